import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTransformerConfig, weightShapes } from '../../models/config.js';
import { writeSafetensors } from '../../models/safetensors.js';
import { Rng } from '../../rng/rng.js';
import { writeFileAtomically } from '../../files.js';
import { gpt2TokenizerJson } from './gpt2-tokenizer.js';

export interface RandomGpt2 {
  layers: number;
  width: number;
  heads: number;
  /**
   * `reference`: the reference LM's character tokenizer and context (128); `gpt2`: GPT-2's
   * byte-level BPE (50,257 tokens) and its context, 1,024.
   */
  tokenizer: 'reference' | 'gpt2';
}

/** GPT-2 small's shape: 12 blocks of 768, 12 heads, GPT-2's tokenizer: 124M parameters. */
export const GPT2_SMALL: RandomGpt2 = { layers: 12, width: 768, heads: 12, tokenizer: 'gpt2' };
/** 6 blocks of 512 on the reference LM's characters: 19M parameters. */
export const GPT2_6X512: RandomGpt2 = { layers: 6, width: 512, heads: 8, tokenizer: 'reference' };

/**
 * A GPT-2 with random weights as GPT-2 initialises them (normal, sd 0.02; residual projections
 * scaled by 1/√(2·layers); LayerNorms 1 and 0): a model of a size the project has no trained one
 * of, for timing. Written once into `dir` (the same seed, the same bytes); too large to check in.
 */
export function writeRandomGpt2(dir: string, referenceDir: string, shape: RandomGpt2, seed = 1): string {
  if (existsSync(join(dir, 'model.safetensors'))) return dir;
  mkdirSync(dir, { recursive: true });
  const reference = readTransformerConfig(join(referenceDir, 'config.json'));
  const [vocab, context] = shape.tokenizer === 'gpt2' ? [50257, 1024] : [reference.vocabSize, reference.contextLength];
  const config = { model_type: 'gpt2', vocab_size: vocab, n_positions: context, n_embd: shape.width, n_layer: shape.layers, n_head: shape.heads, n_inner: 4 * shape.width, layer_norm_epsilon: 1e-5 };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 1) + '\n');
  if (shape.tokenizer === 'gpt2') writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(gpt2TokenizerJson()));
  else copyFileSync(join(referenceDir, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  const rng = Rng.fromSeed(`random-gpt2:${seed}`);
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, dims] of weightShapes(readTransformerConfig(join(dir, 'config.json')))) {
    const size = dims.reduce((a, b) => a * b, 1);
    const sd = name.endsWith('c_proj.weight') ? 0.02 / Math.sqrt(2 * shape.layers) : 0.02;
    const data = /ln_\d\.weight|ln_f\.weight/.test(name) ? new Float32Array(size).fill(1) : name.endsWith('.bias') ? new Float32Array(size) : Float32Array.from({ length: size }, () => sd * rng.normal());
    tensors[name] = { shape: dims, data };
  }
  // Last, and atomically: a directory with model.safetensors is complete.
  writeFileAtomically(join(dir, 'model.safetensors'), (path) => writeSafetensors(path, tensors, { format: 'pt' }));
  return dir;
}
