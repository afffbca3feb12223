import { join } from 'node:path';
import { z } from 'zod';
import { CharTokenizer } from '../data/char-tokenizer.js';
import { readJson, validate } from '../validation.js';

const schema = z.strictObject({ type: z.literal('char'), symbols: z.array(z.string().min(1)).min(1) });

/** The tokenizer a model directory ships (`tokenizer.json`); the project's models are character-level. */
export function readTokenizer(dir: string): CharTokenizer {
  const file = join(dir, 'tokenizer.json');
  return new CharTokenizer(validate(schema, readJson(file, 'tokenizer'), file).symbols);
}
