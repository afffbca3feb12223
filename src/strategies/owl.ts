import { z } from 'zod';
import { bestAllocation } from '../space/allocate.js';
import { genomeKey, type Genome, type SpaceIndex } from '../space/space.js';
import type { Best, Strategy } from './types.js';

export const owlSchema = z.strictObject({
  type: z.literal('owl'),
  /** The fidelity budget of every measurement (the `baseline` command uses the search's largest). */
  budget: z.number().positive().default(1),
  /** Band half-widths λ: layer sparsities spread over [s − λ, s + λ]. */
  lambdas: z.array(z.number().min(0).max(1)).min(1).default([0.02, 0.05, 0.08, 0.1, 0.2]),
  /** Each unit's outlier ratio at each multiplier M (measured on the model: `evosearch baseline owl`). */
  outliers: z.array(z.strictObject({ multiplier: z.number().positive(), ratios: z.array(z.number().min(0).max(1)).min(1) })).min(1),
});

export type OwlConfig = z.infer<typeof owlSchema>;

export interface OwlCandidate {
  multiplier: number;
  lambda: number;
  genome: Genome;
}

export interface OwlState {
  /** The grid's configurations once asked (made once: each is a budget DP). */
  asked: OwlCandidate[] | null;
  /** Null until the grid is measured; then its candidates with their scores. */
  scored: (OwlCandidate & { score: number })[] | null;
}

/**
 * OWL's layer sparsities for one (M, λ): outlier ratios rescaled to [0, 2λ], centred on the
 * average sparsity s, and subtracted from s, so that layers with more outliers are pruned less
 * (as OWL's own code computes its layer ratios). Units' levels are sparsities.
 */
export function owlSparsities(ratios: number[], sparsity: number, lambda: number): number[] {
  const lo = Math.min(...ratios);
  const span = Math.max(...ratios) - lo;
  const spread = ratios.map((r) => (span > 0 ? ((r - lo) / span) * 2 * lambda : 0));
  const mean = spread.reduce((a, b) => a + b, 0) / spread.length;
  return spread.map((d) => sparsity - (d - mean));
}

/**
 * The grid's configurations: each (M, λ)'s layer sparsities, each unit put at the level nearest
 * its sparsity under the budget (the budget DP on squared distance), duplicates dropped. The
 * average sparsity s is the uniform configuration's.
 */
export function owlCandidates(config: OwlConfig, space: SpaceIndex): OwlCandidate[] {
  const units = space.space.units;
  for (const o of config.outliers) {
    if (o.ratios.length !== units.length) throw new Error(`owl: ${o.ratios.length} outlier ratios for ${units.length} units`);
  }
  const uniform = space.uniform();
  if (!uniform) throw new Error('owl: no uniform configuration fits the budget');
  const sparsity = uniform.reduce((sum, level, u) => sum + units[u].levels[level], 0) / units.length;
  const seen = new Set<string>();
  const candidates: OwlCandidate[] = [];
  for (const { multiplier, ratios } of config.outliers) {
    for (const lambda of config.lambdas) {
      const targets = owlSparsities(ratios, sparsity, lambda);
      const allocation = bestAllocation(space, units.map((unit, u) => unit.levels.map((value) => (value - targets[u]) ** 2)));
      if (!allocation || !space.isFeasible(allocation.genome) || seen.has(genomeKey(allocation.genome))) continue;
      seen.add(genomeKey(allocation.genome));
      candidates.push({ multiplier, lambda, genome: allocation.genome });
    }
  }
  return candidates;
}

/**
 * Outlier-weighted layerwise sparsity (OWL) as a baseline: one measurement per grid point, the
 * best on calibration kept, as OWL's authors pick M and λ.
 */
export function owl(config: OwlConfig): Strategy<OwlState> {
  const best = (state: OwlState): Best | null =>
    state.scored?.reduce<Best | null>((b, c) => (Number.isFinite(c.score) && (!b || c.score < b.score) ? { genome: c.genome, score: c.score } : b), null) ?? null;
  return {
    type: 'owl',
    init: () => ({ asked: null, scored: null }),
    ask(state, ctx) {
      if (state.scored) return null;
      const asked = owlCandidates(config, ctx.space);
      return { state: { ...state, asked }, ask: { candidates: asked.map((c) => c.genome), fidelity: { budget: config.budget, slice: 0 } } };
    },
    tell: (state, scores) => ({ ...state, scored: state.asked!.map((c, i) => ({ ...c, score: scores[i] })) }),
    best,
    progress: (state) => ({ generation: state.scored ? 1 : 0, generations: 1 }),
  };
}
