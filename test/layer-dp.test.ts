import { describe, expect, it } from 'vitest';
import { SpaceIndex } from '../src/space/space.js';
import { syntheticSpace } from '../src/space/synthetic.js';
import { SyntheticProblem } from '../src/fitness/synthetic.js';
import { layerDp } from '../src/strategies/layer-dp.js';
import { createStrategy, strategySchema } from '../src/strategies/index.js';
import type { Genome } from '../src/space/space.js';
import { context, drive } from './helpers.js';

describe('dp baseline (per-unit errors, then the budget DP)', () => {
  for (const family of ['equalStep', 'unequalCost'] as const) {
    it(`finds the exact optimum of an additive ${family} problem, with one probe per unit and level`, () => {
      const space = syntheticSpace({ family, units: 24, levels: 7, seed: 3, budgetFraction: 0.45 });
      const problem = new SyntheticProblem(space, { seed: 3 });
      const index = new SpaceIndex(space);
      const asked: Genome[][] = [];
      const { state, evaluations } = drive(layerDp({ type: 'dp', budget: 1 }), context(space), 1, (g, budget) => problem.evaluate(g, { budget, slice: 0 }), { onAsk: (c) => asked.push(c) });
      // The reference, each unit's other levels, then the DP's answer.
      expect(evaluations).toBe(1 + 24 * 6 + 1);
      expect(asked[0].filter((g) => !index.isFeasible(g)).length).toBeGreaterThan(0);
      expect(index.isFeasible(state.best!)).toBe(true);
      expect(problem.exact(state.best!)).toBeCloseTo(problem.optimum().value, 9);
      expect(state.bestScore).toBeCloseTo(problem.optimum().value, 9);
    });
  }

  it('misses the optimum where units interact (error compounding), as error monotonicity predicts', () => {
    const space = syntheticSpace({ family: 'equalStep', units: 24, levels: 7, seed: 4, budgetFraction: 0.45 });
    const problem = new SyntheticProblem(space, { seed: 4, propagation: 'chain', strength: 2 });
    const { state } = drive(layerDp({ type: 'dp', budget: 1 }), context(space), 1, (g, budget) => problem.evaluate(g, { budget, slice: 0 }));
    expect(problem.exact(state.best!)).toBeGreaterThan(problem.optimum().value * 1.001);
  });

  it('is a strategy of experiment files ("type": "dp"); under a cap that cuts its probes it gives no answer', () => {
    const space = syntheticSpace({ family: 'equalStep', units: 6, levels: 4, seed: 1, budgetFraction: 0.5 });
    const strategy = createStrategy(strategySchema.parse({ type: 'dp' }));
    const problem = new SyntheticProblem(space, { seed: 1 });
    const whole = drive(strategy, context(space), 1, (g) => problem.exact(g));
    expect(whole.evaluations).toBe(1 + 6 * 3 + 1);
    expect(strategy.best(whole.state)!.score).toBeCloseTo(problem.optimum().value, 9);
    const capped = drive(strategy, context(space), 1, (g) => problem.exact(g), { maxEvaluations: 5 });
    expect(strategy.best(capped.state)).toBeNull();
  });
});
