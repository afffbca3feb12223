import { SpaceIndex, type Space } from '../../space/space.js';
import { syntheticSpace, type SyntheticSpaceSpec } from '../../space/synthetic.js';
import { SyntheticProblem, additiveOptimum } from '../../fitness/synthetic.js';
import { createStrategy, type StrategyConfig } from '../../strategies/index.js';
import { drive } from '../../engine/drive.js';

export interface GapRun {
  optimum: number;
  final: number;
  /** Relative gap to the optimum in percent, after `evaluations` distinct evaluations. */
  gap: number;
  evaluations: number;
  curve: { evaluations: number; gap: number }[];
  seconds: number;
}

/**
 * Runs a strategy in-process on an additive synthetic problem whose exact optimum the DP knows,
 * and records the gap to it against distinct evaluations (what a run would compute and cache).
 * Stops at `maxEvaluations` or once the gap is at most `stopAtGap` percent.
 */
export function gapRun(
  spaceSpec: SyntheticSpaceSpec,
  strategyConfig: StrategyConfig,
  options: { seed: number; maxEvaluations: number; stopAtGap?: number; curveEvery?: number },
): GapRun {
  const space: Space = syntheticSpace(spaceSpec);
  const problem = new SyntheticProblem(space, { seed: spaceSpec.seed });
  const optimum = additiveOptimum(space, problem.loss).value;
  const strategy = createStrategy(strategyConfig);
  const ctx = { space: new SpaceIndex(space), seed: options.seed, slices: 1, validationSlices: 0 };
  const started = Date.now();
  const curve: GapRun['curve'] = [];
  const every = options.curveEvery ?? 5000;
  let gap = Infinity;
  const { state, evaluations } = drive(strategy, ctx, options.seed, (g) => problem.exact(g), {
    shouldStop: (evaluations, state) => {
      const best = strategy.best(state);
      if (best) gap = ((best.score - optimum) / Math.abs(optimum)) * 100;
      if (curve.length === 0 || evaluations >= curve[curve.length - 1].evaluations + every) curve.push({ evaluations, gap });
      return evaluations >= options.maxEvaluations || gap <= (options.stopAtGap ?? -Infinity);
    },
  });
  curve.push({ evaluations, gap });
  const final = strategy.best(state)?.score ?? NaN;
  return { optimum, final, gap, evaluations, curve, seconds: (Date.now() - started) / 1000 };
}
