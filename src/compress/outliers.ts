import type { CompressionTarget } from './targets.js';
import { asRowsOut } from './levels.js';
import type { Matrix } from './linalg.js';
import { UserError } from '../errors.js';

/** A layer's outlier ratio at one multiplier M, per unit in the order asked. */
export interface OutlierRatios {
  multiplier: number;
  ratios: number[];
}

/** Whose mean an outlier is measured against: its own layer's (as the issue states OWL), or its transformer block's (as OWL's code pools the block's layers). */
export type OutlierScope = 'layer' | 'block';

/** A transformer weight's block: "h.2.attn.c_attn.weight" and "model.layers.2.mlp.up_proj.weight" are in block 2. */
const blockOf = (weight: string) => /(?:^|\.)(?:h|layers)\.(\d+)\./.exec(weight)?.[1] ?? null;

/**
 * OWL's outlier ratios (Yin et al., 2023): the share of Wanda scores |W_ij|·‖X_j‖ (‖X_j‖ over the
 * calibration inputs: the root of the Gram matrix's diagonal) that exceed M times the mean score,
 * for each M. With scope `block`, a block's layers are pooled into one set of scores, and every
 * layer of the block gets the block's ratio. `weights`: each unit's weight name.
 */
export function outlierRatios(target: CompressionTarget, grams: Map<string, Matrix>, weights: string[], multipliers: number[], scope: OutlierScope = 'layer'): OutlierRatios[] {
  const scoresOf = (name: string) => {
    const layer = target.layers.find((l) => l.weight === name);
    const gram = grams.get(name);
    if (!layer || !gram) throw new Error(`bug: no calibrated layer ${name}`);
    const w = asRowsOut(target.weight(name), layer);
    const n = layer.inFeatures;
    const norms = Float64Array.from({ length: n }, (_, j) => Math.sqrt(Math.max(0, gram.data[j * n + j])));
    return Float64Array.from(w.data, (v, k) => Math.abs(v) * norms[k % n]);
  };
  const groupOf = (name: string) => {
    if (scope === 'layer') return name;
    const block = blockOf(name);
    if (block === null) throw new UserError(`owl: --owl-scope block needs transformer blocks; "${name}" is in none (use --owl-scope layer)`);
    return block;
  };
  const ratiosByGroup = new Map<string, number[]>();
  for (const group of new Set(weights.map(groupOf))) {
    const pooled = weights.filter((w) => groupOf(w) === group).map(scoresOf);
    const count = pooled.reduce((s, scores) => s + scores.length, 0);
    const mean = pooled.reduce((s, scores) => s + scores.reduce((a, b) => a + b, 0), 0) / count;
    ratiosByGroup.set(group, multipliers.map((m) => pooled.reduce((s, scores) => s + scores.reduce((c, x) => c + (x > m * mean ? 1 : 0), 0), 0) / count));
  }
  return multipliers.map((multiplier, i) => ({ multiplier, ratios: weights.map((w) => ratiosByGroup.get(groupOf(w))![i]) }));
}
