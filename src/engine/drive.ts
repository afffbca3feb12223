import { Rng } from '../rng/rng.js';
import { genomeKey, type Genome } from '../space/space.js';
import { UNSCORED, type Strategy, type StrategyContext } from '../strategies/types.js';
import { evaluationsAllowed } from './cap.js';

/**
 * The engine's ask → cache → tell loop in-process, without store or workers: for tests and
 * benchmarks that score candidates with a plain function. Scores are cached per (genome, budget,
 * slice) as a run caches them, so `evaluations` counts what a run would compute, and
 * `maxEvaluations` caps it as `stop.maxEvaluations` caps a run. `shouldStop` is asked before every step.
 */
export function drive<S>(
  strategy: Strategy<S>,
  ctx: StrategyContext,
  seed: number,
  score: (genome: Genome, budget: number, slice: number) => number,
  options: { onAsk?: (candidates: Genome[]) => void; shouldStop?: (evaluations: number, state: S) => boolean; maxEvaluations?: number } = {},
): { state: S; evaluations: number } {
  const rng = Rng.fromSeed(seed);
  let state = strategy.init(ctx, rng);
  const cache = new Map<string, number>();
  const max = options.maxEvaluations ?? Infinity;
  while (cache.size < max && !options.shouldStop?.(cache.size, state)) {
    const next = strategy.ask(state, ctx, rng, max - cache.size);
    if (!next) break;
    options.onAsk?.(next.ask.candidates);
    const { budget, slice } = next.ask.fidelity;
    let allowed = evaluationsAllowed(max - cache.size, next.ask.reserve);
    const scores = next.ask.candidates.map((g) => {
      const key = `${genomeKey(g)}|${budget}|${slice}`;
      let value = cache.get(key);
      if (value !== undefined) return value;
      if (allowed <= 0) return UNSCORED;
      allowed--;
      cache.set(key, (value = score(g, budget, slice)));
      return value;
    });
    state = strategy.tell(next.state, scores, ctx, rng);
  }
  return { state, evaluations: cache.size };
}
