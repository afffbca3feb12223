import { describe, expect, it } from 'vitest';
import { gapRun } from '../src/bench/gap.js';
import { strategySchema } from '../src/config/schema.js';
import type { SyntheticSpaceSpec } from '../src/fitness/synthetic.js';

// The acceptance problems: additive losses, non-convex per unit, exact optimum by DP.
const evopress = strategySchema.parse({ type: 'evopress', generations: 1_000_000, offspring: 16 });
const genetic = strategySchema.parse({ type: 'genetic', generations: 1_000_000 });
const random = strategySchema.parse({ type: 'random', samples: 5000 });
const problem = (family: SyntheticSpaceSpec['family'], units: number, levels: number): SyntheticSpaceSpec => ({ family, units, levels, seed: 1, budgetFraction: 0.5 });

describe('gap to the DP optimum on synthetic problems (≤ 100k evaluations)', () => {
  it.each([
    [100, 10],
    [200, 8],
  ])('equal steps, %i units × %i levels: evopress within 0.1 percent', { timeout: 240_000 }, (units, levels) => {
    const run = gapRun(problem('equalStep', units, levels), evopress, { seed: 1, maxEvaluations: 100_000, stopAtGap: 0.1 });
    expect(run.gap, JSON.stringify(run.curve)).toBeLessThanOrEqual(0.1);
    expect(run.evaluations).toBeLessThanOrEqual(100_000);
  });

  it.each([
    [100, 10],
    [200, 8],
  ])('unequal costs, %i units × %i levels: evopress within 1 percent', { timeout: 240_000 }, (units, levels) => {
    const run = gapRun(problem('unequalCost', units, levels), evopress, { seed: 1, maxEvaluations: 100_000, stopAtGap: 1 });
    expect(run.gap, JSON.stringify(run.curve)).toBeLessThanOrEqual(1);
  });

  it('the genetic algorithm beats random sampling at the same evaluations', { timeout: 240_000 }, () => {
    const spec = problem('unequalCost', 100, 10);
    const ga = gapRun(spec, genetic, { seed: 1, maxEvaluations: 5000 });
    const rs = gapRun(spec, random, { seed: 1, maxEvaluations: 5000 });
    expect(ga.gap).toBeLessThan(rs.gap / 2);
  });
});
