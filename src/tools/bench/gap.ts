import type { Space } from '../../space/space.js';
import { SpaceIndex } from '../../space/space.js';
import { syntheticSpace, type SyntheticSpaceSpec } from '../../space/synthetic.js';
import { SyntheticProblem, type SyntheticProblemSpec } from '../../fitness/synthetic.js';
import { createStrategy, type StrategyConfig } from '../../strategies/index.js';
import { drive } from '../../engine/drive.js';

export interface GapRun {
  optimum: number;
  /** The noise-free objective of the configuration the strategy reports as best. */
  final: number;
  /** Relative gap of `final` to the optimum in percent, after `evaluations` distinct evaluations. */
  gap: number;
  evaluations: number;
  curve: { evaluations: number; gap: number }[];
  seconds: number;
}

export interface GapOptions {
  seed: number;
  maxEvaluations: number;
  stopAtGap?: number;
  curveEvery?: number;
  /** Calibration slices the search may use, and those reserved for validating its winner. */
  slices?: number;
  validationSlices?: number;
}

/**
 * Runs a strategy in-process on a synthetic problem whose exact optimum a DP knows, scoring with
 * the problem's (possibly noisy) evaluation, and records the gap of the reported best's noise-free
 * objective to the optimum against distinct evaluations (what a run would compute and cache).
 * Stops at `maxEvaluations` or once the gap is at most `stopAtGap` percent.
 */
export function gapRun(spaceSpec: SyntheticSpaceSpec, strategyConfig: StrategyConfig, options: GapOptions, problemSpec: Omit<SyntheticProblemSpec, 'seed'> = {}): GapRun {
  const space: Space = syntheticSpace(spaceSpec);
  const problem = new SyntheticProblem(space, { ...problemSpec, seed: spaceSpec.seed });
  const optimum = problem.optimum().value;
  const strategy = createStrategy(strategyConfig);
  const ctx = { space: new SpaceIndex(space), seed: options.seed, slices: options.slices ?? 1, validationSlices: options.validationSlices ?? 0 };
  const started = Date.now();
  const curve: GapRun['curve'] = [];
  const every = options.curveEvery ?? 5000;
  const gapOf = (genome: number[]) => ((problem.gapObjective(genome) - optimum) / Math.abs(optimum)) * 100;
  let gap = Infinity;
  const { state, evaluations } = drive(strategy, ctx, options.seed, (g, budget, slice) => problem.evaluate(g, { budget, slice }), {
    maxEvaluations: options.maxEvaluations,
    shouldStop: (evaluations, state) => {
      const best = strategy.best(state);
      if (best) gap = gapOf(best.genome);
      if (curve.length === 0 || evaluations >= curve[curve.length - 1].evaluations + every) curve.push({ evaluations, gap });
      return gap <= (options.stopAtGap ?? -Infinity);
    },
  });
  const best = strategy.best(state);
  if (best) gap = gapOf(best.genome);
  curve.push({ evaluations, gap });
  return { optimum, final: best ? problem.gapObjective(best.genome) : NaN, gap, evaluations, curve, seconds: (Date.now() - started) / 1000 };
}
