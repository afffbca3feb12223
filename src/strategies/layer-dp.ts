import { z } from 'zod';
import { bestAllocation } from '../space/allocate.js';
import type { Genome, SpaceIndex } from '../space/space.js';
import type { Strategy } from './types.js';
import { bestOf, type BestSoFar } from './baselines.js';

export interface LayerDpState extends BestSoFar {
  /** 'probe': measure every unit alone at every level; 'allocate': score the DP's configuration; then done. */
  phase: 'probe' | 'allocate' | 'done';
  /**
   * errors[u][level]: the fitness with unit u alone at `level` (every other unit at its dearest
   * level), less the reference's; null where the run's evaluation cap left a probe unmeasured.
   */
  errors: (number | null)[][] | null;
}

export const layerDpSchema = z.strictObject({
  type: z.literal('dp'),
  /** The fidelity budget of every measurement (the `baseline` command uses the search's largest). */
  budget: z.number().positive().default(1),
});

export type LayerDpConfig = z.infer<typeof layerDpSchema>;

/** Every unit at its dearest (least compressed) level: the reference each unit is compressed against alone. */
const dearest = (space: SpaceIndex): Genome => space.byRank.map((order) => order[order.length - 1]);

/** The probes, in order: the reference, then for each unit each of its other levels. */
function probes(space: SpaceIndex): { genome: Genome; unit: number; level: number }[] {
  const reference = dearest(space);
  const list = [{ genome: reference, unit: -1, level: -1 }];
  space.space.units.forEach((unit, u) =>
    unit.levels.forEach((_, level) => {
      if (level !== reference[u]) list.push({ genome: reference.map((l, v) => (v === u ? level : l)), unit: u, level });
    }),
  );
  return list;
}

/**
 * The error-monotonicity baseline (SPDY's, and what EvoPress argues against): score each unit
 * compressed alone at each level, take the fitness as the sum of those errors, and let the budget
 * DP pick the configuration that minimises the sum. The probes break the budget (all but one unit
 * uncompressed) and are asked as such; only the DP's configuration can be the best. Additive costs
 * only (level databases and inline spaces).
 */
export function layerDp(config: LayerDpConfig): Strategy<LayerDpState> {
  const fidelity = { budget: config.budget, slice: 0 };
  return {
    type: 'dp',
    init: () => ({ phase: 'probe', errors: null, best: null, bestScore: null }),
    ask(state, ctx) {
      if (state.phase === 'probe') return { state, ask: { candidates: probes(ctx.space).map((p) => p.genome), fidelity, probe: true } };
      if (state.phase === 'done') return null;
      const allocation = bestAllocation(ctx.space, state.errors!);
      if (!allocation || !ctx.space.isFeasible(allocation.genome)) throw new Error('dp: no configuration of measured levels fits the budget');
      return { state: { ...state, best: allocation.genome }, ask: { candidates: [allocation.genome], fidelity } };
    },
    tell(state, scores, ctx) {
      if (state.phase === 'allocate') return { ...state, phase: 'done', bestScore: scores[0] };
      const errors = ctx.space.space.units.map((unit) => unit.levels.map((): number | null => 0));
      probes(ctx.space).forEach((p, i) => {
        if (p.unit >= 0) errors[p.unit][p.level] = Number.isFinite(scores[i] - scores[0]) ? scores[i] - scores[0] : null;
      });
      return { ...state, phase: 'allocate', errors };
    },
    best: bestOf,
    progress: (state) => ({ generation: state.phase === 'probe' ? 0 : state.phase === 'allocate' ? 1 : 2, generations: 2 }),
  };
}
