import type { CompressionTarget } from './targets.js';
import { asRowsOut } from './levels.js';
import type { Matrix } from './linalg.js';

/** A layer's outlier ratio at one multiplier M, per unit in the order asked. */
export interface OutlierRatios {
  multiplier: number;
  ratios: number[];
}

/**
 * OWL's layer outlier ratios (Yin et al., 2023): for each layer, the share of its Wanda scores
 * |W_ij|·‖X_j‖ (‖X_j‖ over the calibration inputs: the root of the Gram matrix's diagonal) that
 * exceed M times the layer's mean score, for each M. `weights`: each unit's weight name.
 */
export function outlierRatios(target: CompressionTarget, grams: Map<string, Matrix>, weights: string[], multipliers: number[]): OutlierRatios[] {
  const perUnit = weights.map((name) => {
    const layer = target.layers.find((l) => l.weight === name);
    const gram = grams.get(name);
    if (!layer || !gram) throw new Error(`bug: no calibrated layer ${name}`);
    const w = asRowsOut(target.weight(name), layer);
    const n = layer.inFeatures;
    const norms = Float64Array.from({ length: n }, (_, j) => Math.sqrt(Math.max(0, gram.data[j * n + j])));
    const scores = Float64Array.from(w.data, (v, k) => Math.abs(v) * norms[k % n]);
    const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
    return multipliers.map((m) => scores.reduce((count, s) => count + (s > m * mean ? 1 : 0), 0) / scores.length);
  });
  return multipliers.map((multiplier, i) => ({ multiplier, ratios: perUnit.map((r) => r[i]) }));
}
