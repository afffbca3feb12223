import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTransformerConfig, weightShapes } from '../../models/config.js';
import { writeSafetensors } from '../../models/safetensors.js';
import { Rng } from '../../rng/rng.js';
import { writeFileAtomically } from '../../files.js';

export interface RandomGpt2 {
  layers: number;
  width: number;
  heads: number;
}

/**
 * A GPT-2 with random weights as GPT-2 initialises them (normal, sd 0.02; residual projections
 * scaled by 1/√(2·layers); LayerNorms 1 and 0), the reference LM's character tokenizer and context:
 * a model of a size the project has no trained one of, for timing. Written once into `dir` (the
 * same seed, the same bytes); 6 × 512 holds 19M parameters, too many to check in.
 */
export function writeRandomGpt2(dir: string, referenceDir: string, shape: RandomGpt2, seed = 1): string {
  if (existsSync(join(dir, 'model.safetensors'))) return dir;
  mkdirSync(dir, { recursive: true });
  const reference = readTransformerConfig(join(referenceDir, 'config.json'));
  const config = { model_type: 'gpt2', vocab_size: reference.vocabSize, n_positions: reference.contextLength, n_embd: shape.width, n_layer: shape.layers, n_head: shape.heads, n_inner: 4 * shape.width, layer_norm_epsilon: 1e-5 };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 1) + '\n');
  const rng = Rng.fromSeed(`random-gpt2:${seed}`);
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, dims] of weightShapes(readTransformerConfig(join(dir, 'config.json')))) {
    const size = dims.reduce((a, b) => a * b, 1);
    const sd = name.endsWith('c_proj.weight') ? 0.02 / Math.sqrt(2 * shape.layers) : 0.02;
    const data = /ln_\d\.weight|ln_f\.weight/.test(name) ? new Float32Array(size).fill(1) : name.endsWith('.bias') ? new Float32Array(size) : Float32Array.from({ length: size }, () => sd * rng.normal());
    tensors[name] = { shape: dims, data };
  }
  writeFileAtomically(join(dir, 'model.safetensors'), (path) => writeSafetensors(path, tensors, { format: 'pt' }));
  copyFileSync(join(referenceDir, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  return dir;
}
