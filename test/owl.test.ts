import { describe, expect, it } from 'vitest';
import { SpaceIndex, type Space } from '../src/space/space.js';
import { owl, owlCandidates, owlSparsities } from '../src/strategies/owl.js';
import { outlierRatios } from '../src/compress/outliers.js';
import { matrix } from '../src/compress/linalg.js';
import type { CompressionTarget } from '../src/compress/targets.js';
import { context, drive } from './helpers.js';

/** Units of 100 weights at sparsities 0.3–0.9 in steps of 0.1, budget: 60% sparsity on average. */
function sparsitySpace(units: number): Space {
  const levels = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
  return {
    units: Array.from({ length: units }, (_, i) => ({ name: `u${i}`, levels, cost: levels.map((s) => Math.round(100 * (1 - s))) })),
    budget: { total: 40 * units, mode: 'atMost' },
    uniform: Array.from({ length: units }, () => 3),
  };
}

describe('OWL (outlier-weighted layerwise sparsity)', () => {
  it('spreads sparsities over a band of 2λ around the average, fewer zeros where outliers are more', () => {
    const ratios = [0.01, 0.05, 0.02, 0.03];
    const s = owlSparsities(ratios, 0.6, 0.1);
    expect(s.reduce((a, b) => a + b, 0) / s.length).toBeCloseTo(0.6, 12);
    expect(Math.max(...s) - Math.min(...s)).toBeCloseTo(0.2, 12);
    expect(s[1]).toBe(Math.min(...s)); // the most outliers: pruned least
    expect(s[0]).toBe(Math.max(...s));
    expect(owlSparsities([0.02, 0.02], 0.5, 0.2)).toEqual([0.5, 0.5]);
  });

  it('makes one feasible configuration per distinct grid point and keeps the best on calibration', () => {
    const space = sparsitySpace(6);
    const index = new SpaceIndex(space);
    const config = { type: 'owl' as const, budget: 1, lambdas: [0, 0.1, 0.2], outliers: [{ multiplier: 5, ratios: [0.01, 0.09, 0.02, 0.05, 0.03, 0.04] }] };
    const candidates = owlCandidates(config, index);
    expect(candidates.map((c) => c.genome)).toContainEqual([3, 3, 3, 3, 3, 3]); // λ = 0: uniform
    expect(new Set(candidates.map((c) => c.genome.join(','))).size).toBe(candidates.length);
    for (const c of candidates) expect(index.isFeasible(c.genome)).toBe(true);
    const wide = candidates.find((c) => c.lambda === 0.2)!.genome;
    expect(wide[1]).toBeLessThan(wide[0]); // unit 1 has the most outliers, so the lowest sparsity (level indices grow with sparsity)
    // A fitness that rewards protecting unit 1 picks the widest band.
    const { state } = drive(owl(config), context(space), 1, (g) => g[1] + 0.01 * g.reduce((a, b) => a + b, 0));
    const best = owl(config).best(state)!;
    expect(best.genome).toEqual(wide);
  });

  it('counts the Wanda scores |W|·‖X‖ above M times the layer mean', () => {
    // One layer, out 2 × in 2 (outIn layout): W = [[1, -8], [2, 1]]; input norms ‖X_0‖ = 1, ‖X_1‖ = 2.
    const gram = matrix(2, 2, Float64Array.from([1, 0, 0, 4]));
    const target = {
      layers: [{ weight: 'w', inFeatures: 2, outFeatures: 2, layout: 'outIn', shape: [2, 2] }],
      weight: () => Float32Array.from([1, -8, 2, 1]),
    } as unknown as CompressionTarget;
    // Scores 1, 16, 2, 2: mean 5.25; above 2×: only 16; above 4×: none.
    expect(outlierRatios(target, new Map([['w', gram]]), ['w'], [1, 2, 4])).toEqual([
      { multiplier: 1, ratios: [0.25] },
      { multiplier: 2, ratios: [0.25] },
      { multiplier: 4, ratios: [0] },
    ]);
  });

  it('pools the layers of a transformer block with scope "block", as OWL\'s code does', () => {
    // Block 0: scores 1, 16, 2, 2 (as above) and 1, 1, 1, 1 (unit input norms): pooled mean 3.125.
    const eye = matrix(2, 2, Float64Array.from([1, 0, 0, 1]));
    const layer = (weight: string) => ({ weight, inFeatures: 2, outFeatures: 2, layout: 'outIn', shape: [2, 2] });
    const values: Record<string, number[]> = { 'h.0.attn.c_attn.weight': [1, -8, 2, 1], 'h.0.mlp.c_fc.weight': [1, 1, -1, 1], 'h.1.mlp.c_fc.weight': [3, 3, 3, 3] };
    const target = { layers: Object.keys(values).map(layer), weight: (name: string) => Float32Array.from(values[name]) } as unknown as CompressionTarget;
    const grams = new Map([['h.0.attn.c_attn.weight', matrix(2, 2, Float64Array.from([1, 0, 0, 4]))], ['h.0.mlp.c_fc.weight', eye], ['h.1.mlp.c_fc.weight', eye]]);
    const names = Object.keys(values);
    // Per layer at M = 2: 1 of 4, none, none. Per block: 16 > 6.25 is 1 of 8 in block 0; block 1 has none.
    expect(outlierRatios(target, grams, names, [2], 'layer')[0].ratios).toEqual([0.25, 0, 0]);
    expect(outlierRatios(target, grams, names, [2], 'block')[0].ratios).toEqual([0.125, 0.125, 0]);
  });
});
