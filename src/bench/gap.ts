import { Rng } from '../rng/rng.js';
import { SpaceIndex, type Space } from '../space/space.js';
import { SyntheticProblem, additiveOptimum, syntheticSpace, type SyntheticSpaceSpec } from '../fitness/synthetic.js';
import { createStrategy } from '../strategies/index.js';
import type { StrategyConfig } from '../config/schema.js';

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
  const ctx = { space: new SpaceIndex(space), seed: options.seed, slices: 1 };
  const rng = Rng.fromSeed(options.seed);
  const started = Date.now();
  let state = strategy.init(ctx, rng);
  const seen = new Map<string, number>();
  const curve: GapRun['curve'] = [];
  const every = options.curveEvery ?? 5000;
  let gap = Infinity;
  for (;;) {
    const next = strategy.ask(state, ctx, rng);
    if (!next) break;
    const scores = next.ask.candidates.map((g) => {
      const key = g.join(',');
      let v = seen.get(key);
      if (v === undefined) {
        v = problem.exact(g);
        seen.set(key, v);
      }
      return v;
    });
    state = strategy.tell(next.state, scores, ctx, rng);
    const best = strategy.best(state);
    if (best) gap = ((best.score - optimum) / Math.abs(optimum)) * 100;
    if (curve.length === 0 || seen.size >= curve[curve.length - 1].evaluations + every) curve.push({ evaluations: seen.size, gap });
    if (seen.size >= options.maxEvaluations || gap <= (options.stopAtGap ?? -Infinity)) break;
  }
  curve.push({ evaluations: seen.size, gap });
  const final = strategy.best(state)?.score ?? NaN;
  return { optimum, final, gap, evaluations: seen.size, curve, seconds: (Date.now() - started) / 1000 };
}
