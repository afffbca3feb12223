import { Rng } from '../rng/rng.js';
import { genomeKey, type Genome } from '../space/space.js';
import type { Strategy, StrategyContext } from '../strategies/types.js';

/**
 * The engine's ask → cache → tell loop in-process, without store or workers: for tests and
 * benchmarks that score candidates with a plain function. Scores are cached per (genome, budget,
 * slice) as a run caches them, so `evaluations` counts what a run would compute. `shouldStop` is
 * asked before every step.
 */
export function drive<S>(
  strategy: Strategy<S>,
  ctx: StrategyContext,
  seed: number,
  score: (genome: Genome, budget: number, slice: number) => number,
  options: { onAsk?: (candidates: Genome[]) => void; shouldStop?: (evaluations: number, state: S) => boolean } = {},
): { state: S; evaluations: number } {
  const rng = Rng.fromSeed(seed);
  let state = strategy.init(ctx, rng);
  const cache = new Map<string, number>();
  while (!options.shouldStop?.(cache.size, state)) {
    const next = strategy.ask(state, ctx, rng);
    if (!next) break;
    options.onAsk?.(next.ask.candidates);
    const { budget, slice } = next.ask.fidelity;
    const scores = next.ask.candidates.map((g) => {
      const key = `${genomeKey(g)}|${budget}|${slice}`;
      let value = cache.get(key);
      if (value === undefined) cache.set(key, (value = score(g, budget, slice)));
      return value;
    });
    state = strategy.tell(next.state, scores, ctx, rng);
  }
  return { state, evaluations: cache.size };
}
