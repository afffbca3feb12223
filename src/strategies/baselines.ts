import { z } from 'zod';
import type { Genome } from '../space/space.js';
import { positiveInt } from '../validation.js';
import type { Strategy, Search, Best } from './types.js';
import { distinctBests, finalistsField } from './validation.js';

export interface BestSoFar {
  best: Genome | null;
  bestScore: number | null;
}

function keepBest(state: BestSoFar, candidates: Genome[], scores: number[]): BestSoFar {
  let { best, bestScore } = state;
  scores.forEach((s, i) => {
    if (Number.isFinite(s) && (bestScore === null || s < bestScore)) {
      bestScore = s;
      best = candidates[i];
    }
  });
  return { best, bestScore };
}

/** A baseline's answer once it is scored. */
export const bestOf = (state: BestSoFar): Best | null =>
  state.best && state.bestScore !== null ? { genome: state.best, score: state.bestScore } : null;

export interface RandomState {
  drawn: number;
  pending: Genome[];
  /** The best distinct samples so far, best first: the winner and the finalists. */
  top: Best[];
}

export const randomSchema = z.strictObject({
  type: z.literal('random'),
  samples: positiveInt,
  batch: positiveInt.default(64),
  budget: z.number().positive().default(1),
  ...finalistsField,
});

export type RandomConfig = z.infer<typeof randomSchema>;

/** Feasible random samples (random levels, repaired into the budget and filled): the floor any search must beat. */
export function randomSearch(config: RandomConfig): Search<RandomState> {
  return {
    type: 'random',
    init: () => ({ drawn: 0, pending: [], top: [] }),
    ask(state, ctx, rng) {
      if (state.drawn >= config.samples) return null;
      const pending: Genome[] = [];
      const want = Math.min(config.batch, config.samples - state.drawn);
      for (let guard = 0; pending.length < want && guard < 20 * want; guard++) {
        const g = ctx.space.random(rng);
        if (g) pending.push(g);
      }
      if (pending.length === 0) return null;
      return { state: { ...state, pending }, ask: { candidates: pending, fidelity: { budget: config.budget, slice: 0 } } };
    },
    tell(state, scores) {
      // A stable sort keeps the earlier of equal scores first, as "the first best" always was.
      const merged = [...state.top, ...state.pending.map((genome, i) => ({ genome, score: scores[i] }))].sort((a, b) => a.score - b.score);
      return { drawn: state.drawn + state.pending.length, pending: [], top: distinctBests(merged, config.finalists) };
    },
    best: (state) => state.top[0] ?? null,
    finalists: (state, count) => state.top.slice(0, count),
    progress: (state) => ({ generation: Math.ceil(state.drawn / config.batch), generations: Math.ceil(config.samples / config.batch) }),
  };
}

export interface UniformState extends BestSoFar {
  done: boolean;
}

export const uniformSchema = z.strictObject({ type: z.literal('uniform'), budget: z.number().positive().default(1) });

export type UniformConfig = z.infer<typeof uniformSchema>;

/** One evaluation of the most uniform feasible configuration: what compression without search gives. */
export function uniformBaseline(config: UniformConfig): Strategy<UniformState> {
  return {
    type: 'uniform',
    init: () => ({ done: false, best: null, bestScore: null }),
    ask(state, ctx) {
      if (state.done) return null;
      const g = ctx.space.uniform();
      if (!g) throw new Error('uniform: no feasible configuration');
      return { state: { ...state, best: g }, ask: { candidates: [g], fidelity: { budget: config.budget, slice: 0 } } };
    },
    tell: (state, scores) => ({ done: true, best: state.best, bestScore: scores[0] }),
    best: bestOf,
    progress: (state) => ({ generation: state.done ? 1 : 0, generations: 1 }),
  };
}
