import { z } from 'zod';
import { bestAllocation } from '../space/allocate.js';
import type { Strategy } from './types.js';
import { bestOf, type BestSoFar } from './baselines.js';

export const blockInfluenceSchema = z.strictObject({
  type: z.literal('block-influence'),
  /** The fidelity budget of the one measurement. */
  budget: z.number().positive().default(1),
  /** Each unit's influence, 1 − cos(input, output) on calibration tokens (measured on the model: `evosearch baseline block-influence`). */
  influence: z.array(z.number()).min(1),
});

export type BlockInfluenceConfig = z.infer<typeof blockInfluenceSchema>;


/**
 * ShortGPT as a baseline for drop databases: drop the units that turn the residual stream least.
 * The budget DP minimises the summed influence of what is dropped (a level's value is the
 * fraction of the unit removed: 1 when dropped), which with equal unit costs is "drop the least
 * influential first".
 */
export function blockInfluenceBaseline(config: BlockInfluenceConfig): Strategy<BestSoFar> {
  return {
    type: 'block-influence',
    init: () => ({ best: null, bestScore: null }),
    ask(state, ctx) {
      if (state.best) return null;
      const units = ctx.space.space.units;
      if (config.influence.length !== units.length) throw new Error(`block-influence: ${config.influence.length} influences for ${units.length} units`);
      const allocation = bestAllocation(ctx.space, units.map((unit, u) => unit.levels.map((dropped) => dropped * Math.max(0, config.influence[u]))));
      if (!allocation || !ctx.space.isFeasible(allocation.genome)) throw new Error('block-influence: no configuration fits the budget');
      return { state: { ...state, best: allocation.genome }, ask: { candidates: [allocation.genome], fidelity: { budget: config.budget, slice: 0 } } };
    },
    tell: (state, scores) => ({ ...state, bestScore: scores[0] }),
    best: bestOf,
    progress: (state) => ({ generation: state.bestScore === null ? 0 : 1, generations: 1 }),
  };
}
