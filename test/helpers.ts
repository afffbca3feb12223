import { Rng } from '../src/rng/rng.js';
import { SpaceIndex, checkBudget, type Space } from '../src/space/space.js';
import type { StrategyContext } from '../src/strategies/types.js';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readLevel, type Manifest } from '../src/compress/manifest.js';
import { readSafetensors } from '../src/models/safetensors.js';
import { ROOT, tempDir } from './cli-helpers.js';

/** A random space: unit and level counts, integer or fractional costs, any level order, either budget mode. */
export function randomSpace(rng: Rng): Space {
  const units = Array.from({ length: rng.int(1, 30) }, (_, i) => {
    const n = rng.int(1, 8);
    const cost = Array.from({ length: n }, () => (rng.next() < 0.5 ? rng.int(1, 100) : rng.next() * 1e6));
    return { name: `u${i}`, levels: cost.map((_, l) => l), cost };
  });
  let min = 0;
  let max = 0;
  for (const u of units) {
    min += Math.min(...u.cost);
    max += Math.max(...u.cost);
  }
  const total = min + rng.next() * (max - min);
  const budget = rng.next() < 0.5 ? { mode: 'atMost' as const, total } : { mode: 'equal' as const, total, tolerance: rng.next() * (max - min) * 0.1 };
  return { units, budget };
}

/** Random feasible spaces only (an `equal` budget may fall between reachable costs). */
export function feasibleRandomSpaces(count: number, seed: number): Space[] {
  const rng = Rng.fromSeed(seed);
  const spaces: Space[] = [];
  while (spaces.length < count) {
    const space = randomSpace(rng);
    if (checkBudget(space) === null) spaces.push(space);
  }
  return spaces;
}

export function context(space: Space, seed = 1, slices = 1, validationSlices = 0): StrategyContext {
  return { space: new SpaceIndex(space), seed, slices, validationSlices };
}

export { drive } from '../src/engine/drive.js';

/** Every stored level of one unit of a level database: level index → tensor. */
export function readUnitLevels(dir: string, manifest: Manifest, unit: number, shapes: Map<string, number[]>): Map<number, Float32Array> {
  const shape = shapes.get(manifest.units[unit].weights[0])!;
  const out = new Map<number, Float32Array>();
  manifest.units[unit].levels.forEach((l, i) => {
    if (l.tensors === 'file') out.set(i, readLevel(dir, manifest, unit, i, shape));
  });
  return out;
}

/** A copy of the reference language model's directory, to break on purpose. */
export function modelCopy(): string {
  const dir = join(tempDir(), 'model');
  mkdirSync(dir);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) copyFileSync(join(ROOT, 'models', 'reference-lm', f), join(dir, f));
  return dir;
}

/** Every tensor of a float32 safetensors file, as writeSafetensors takes them. */
export function floatTensors(file: string): Record<string, { shape: number[]; data: Float32Array }> {
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, t] of readSafetensors(file).tensors) out[name] = { shape: [...t.shape], data: new Float32Array(new Uint8Array(t.bytes).buffer) };
  return out;
}
