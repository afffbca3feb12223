import { join } from 'node:path';
import { z } from 'zod';
import { Tokenizer } from '@huggingface/tokenizers';
import { CharTokenizer } from '../data/char-tokenizer.js';
import { UserError } from '../errors.js';
import { readJson, validate } from '../validation.js';

/** What the project reads text through: token ids fit 16 bits, as windows store them. */
export interface TextTokenizer {
  encode(text: string): Uint16Array;
}

const charSchema = z.strictObject({ type: z.literal('char'), symbols: z.array(z.string().min(1)).min(1) });
/** A Hugging Face tokenizer.json: what tells it apart; @huggingface/tokenizers reads the rest. */
const huggingFaceSchema = z.looseObject({ model: z.looseObject({ type: z.string(), vocab: z.record(z.string(), z.number().int().min(0)).or(z.array(z.unknown())) }) });

/**
 * The tokenizer a model directory ships (`tokenizer.json`): the project's own character-level
 * format, or a Hugging Face tokenizer.json (GPT-2's byte-level BPE, for example), read with
 * @huggingface/tokenizers.
 */
export function readTokenizer(dir: string): TextTokenizer {
  const file = join(dir, 'tokenizer.json');
  const json = readJson(file, 'tokenizer') as Record<string, unknown>;
  if (json?.type === 'char') return new CharTokenizer(validate(charSchema, json, file).symbols);
  const hf = validate(huggingFaceSchema, json, file);
  const size = Array.isArray(hf.model.vocab) ? hf.model.vocab.length : Object.keys(hf.model.vocab).length;
  if (size > 2 ** 16) throw new UserError(`${file}: model.vocab: ${size} tokens; windows hold token ids in 16 bits (at most 65536)`);
  return new HuggingFaceTokenizer(new Tokenizer(json, {}));
}

class HuggingFaceTokenizer implements TextTokenizer {
  constructor(private readonly tokenizer: Tokenizer) {}

  encode(text: string): Uint16Array {
    return Uint16Array.from(this.tokenizer.encode(text, { add_special_tokens: false }).ids);
  }
}
