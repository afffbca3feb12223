import { genomeKey } from '../space/space.js';
import { positiveInt } from '../validation.js';
import type { Best, Search, Strategy } from './types.js';

/** The strategy setting shared by searches that validate their winner. */
export const finalistsField = {
  /** How many of the search's best configurations are re-scored on the validation slices at the end. */
  finalists: positiveInt.default(4),
};

export interface ValidatedState<S> {
  search: S;
  /** Null while the search runs; then the finalists, their search scores, and their validation scores so far. */
  validation: { finalists: Best[]; scores: number[][]; slice: number } | null;
}

/**
 * Wraps a search so that it ends by re-scoring its `count` finalists (the incumbent first) on each
 * of the calibration slices it never read, and picks the one that is best on average there: a
 * search's best score is its luckiest, and held-back data are not. Each validation slice is read at
 * `budget`: 1 where the budget is data (together the slices read every held-back sample once, none
 * twice), the deciding stage's where it is training steps (a finalist is trained as long as it was
 * when it won). Validation evaluations
 * are reserved from the start, so a capped run still validates within its cap. A single finalist is
 * validated too, for its held-back score. Without validation slices the wrapper changes nothing but
 * the state's shape.
 */
export function withValidation<S>(inner: Search<S>, count: number, budget: number): Strategy<ValidatedState<S>> {
  const reserve = (validationSlices: number) => count * validationSlices;
  const start = (state: ValidatedState<S>): ValidatedState<S> => ({ ...state, validation: { finalists: inner.finalists(state.search, count), scores: [], slice: 0 } });

  return {
    type: inner.type,

    init: (ctx, rng) => ({ search: inner.init(ctx, rng), validation: null }),

    ask(state, ctx, rng, left = Infinity) {
      const validationSlices = ctx.validationSlices;
      if (state.validation === null) {
        const room = left - reserve(validationSlices);
        const next = room > 0 ? inner.ask(state.search, ctx, rng, room) : null;
        if (next) return { state: { ...state, search: next.state }, ask: { ...next.ask, reserve: reserve(validationSlices) + (next.ask.reserve ?? 0) } };
        if (validationSlices === 0) return null;
        state = start(state);
      }
      const { finalists, slice } = state.validation!;
      if (slice >= validationSlices || finalists.length === 0) return null;
      return {
        state,
        ask: {
          candidates: finalists.map((f) => f.genome),
          fidelity: { budget, slice: ctx.slices + slice },
          reserve: (validationSlices - slice - 1) * finalists.length,
        },
      };
    },

    tell(state, scores, ctx, rng) {
      if (state.validation === null) return { ...state, search: inner.tell(state.search, scores, ctx, rng) };
      const v = state.validation;
      return { ...state, validation: { ...v, scores: [...v.scores, scores], slice: v.slice + 1 } };
    },

    best(state) {
      const v = state.validation;
      if (!v || v.scores.length === 0) return inner.best(state.search);
      return validatedBest(v.finalists, v.scores);
    },

    progress: (state) => inner.progress(state.search),
  };
}

/** The finalist with the lowest mean over the slices it was measured on (a capped run may miss some); ties keep the earlier finalist. */
function validatedBest(finalists: Best[], scores: number[][]): Best {
  let winner = -1;
  let winnerMean = Infinity;
  finalists.forEach((_, i) => {
    const measured = scores.map((row) => row[i]).filter(Number.isFinite);
    const mean = measured.length ? measured.reduce((a, b) => a + b, 0) / measured.length : Infinity;
    if (winner < 0 || mean < winnerMean) [winner, winnerMean] = [i, mean];
  });
  // A cap that left every finalist unmeasured leaves nothing validated.
  if (winnerMean === Infinity) return finalists[0];
  const slices = scores.filter((row) => Number.isFinite(row[winner])).length;
  return { ...finalists[winner], validation: { score: winnerMean, slices, finalists: finalists.length } };
}

/** The genomes of `bests`, distinct, in order. */
export function distinctBests(bests: Best[], count: number): Best[] {
  const seen = new Set<string>();
  const out: Best[] = [];
  for (const b of bests) {
    const key = genomeKey(b.genome);
    if (seen.has(key) || !Number.isFinite(b.score)) continue;
    seen.add(key);
    out.push(b);
    if (out.length === count) break;
  }
  return out;
}

/** A search's earlier incumbents, the most recent first, after its incumbent `previous` gave way to `next` (unchanged when it did not). */
export function remember(recent: Best[], previous: { genome: Best['genome']; score: number | null }, next: Best['genome'], count: number): Best[] {
  if (next === previous.genome || previous.score === null) return recent;
  return distinctBests([{ genome: previous.genome, score: previous.score }, ...recent], count);
}
