import { z } from 'zod';
import { Rng, hash32 } from '../rng/rng.js';
import { SpaceIndex, type Genome, type Space, type Fidelity } from '../space/space.js';
import { bestAllocation } from '../space/allocate.js';
import { fitnessCommon } from './types.js';

export const syntheticFitnessSchema = z.strictObject({
  type: z.literal('synthetic'),
  seed: z.number().int().default(1),
  /** Pairwise terms on top of the additive losses: `pairs` random pairs of mean weight `strength`. */
  interactions: z.strictObject({ pairs: z.number().int().min(0), strength: z.number().min(0) }).optional(),
  /** Standard deviation of evaluation noise at fidelity budget 1; it shrinks as 1/sqrt(budget). */
  noise: z.number().min(0).default(0),
  ...fitnessCommon,
});

export type SyntheticFitnessSpec = z.infer<typeof syntheticFitnessSchema>;

/** What the problem itself needs from a spec. */
export type SyntheticProblemSpec = Pick<SyntheticFitnessSpec, 'seed' | 'interactions'> & { noise?: number };

/**
 * Additive per-unit losses that grow as a unit is compressed, monotone but not convex (random
 * increments), so local optima exist; optional pairwise interactions and fidelity-dependent noise.
 * Everything is derived from the space and the seed: the same spec always gives the same problem.
 */
export class SyntheticProblem {
  /** loss[i][level] */
  readonly loss: number[][];
  readonly pairs: { a: number; b: number; weight: number }[];
  private readonly index: SpaceIndex;

  constructor(space: Space, readonly spec: SyntheticProblemSpec) {
    this.index = new SpaceIndex(space);
    const rng = Rng.fromSeed(`loss:${spec.seed}`);
    this.loss = space.units.map((unit, i) => {
      const order = this.index.byRank[i];
      const top = order.length - 1;
      const steps = unit.cost[order[top]] - unit.cost[order[0]];
      const importance = Math.exp(0.75 * rng.normal()) * Math.sqrt(Math.max(1, steps / Math.max(1, top)));
      const power = 1.5 + 1.5 * rng.next();
      const byRank = new Array<number>(order.length).fill(0);
      for (let r = top - 1; r >= 0; r--) {
        const compression = (top - r) / Math.max(1, top);
        const bump = 0.2 + 2.3 * rng.next();
        byRank[r] = byRank[r + 1] + importance * bump * compression ** power;
      }
      const loss = new Array<number>(order.length);
      order.forEach((level, r) => (loss[level] = byRank[r]));
      return loss;
    });
    const pairs = spec.interactions?.pairs ?? 0;
    this.pairs = Array.from({ length: pairs }, () => ({
      a: rng.int(0, space.units.length - 1),
      b: rng.int(0, space.units.length - 1),
      weight: (spec.interactions?.strength ?? 0) * Math.abs(rng.normal()),
    }));
  }

  /** The noise-free objective. */
  exact(genome: Genome): number {
    let total = 0;
    for (let i = 0; i < genome.length; i++) total += this.loss[i][genome[i]];
    for (const { a, b, weight } of this.pairs) {
      total += weight * this.compression(genome, a) * this.compression(genome, b);
    }
    return total;
  }

  evaluate(genome: Genome, fidelity: Fidelity): number {
    const value = this.exact(genome);
    const noise = this.spec.noise ?? 0;
    if (noise === 0) return value;
    const rng = Rng.fromSeed(hash32(`${this.spec.seed}:${fidelity.slice}:${fidelity.budget}:${genome.join(',')}`));
    return value + (noise / Math.sqrt(Math.max(fidelity.budget, 1e-9))) * rng.normal();
  }

  private compression(genome: Genome, unit: number): number {
    const top = this.index.levelCount(unit) - 1;
    return top === 0 ? 0 : 1 - this.index.rank(genome, unit) / top;
  }
}

/**
 * The exact optimum of the additive part under the budget (a DP over integer costs). Throws when
 * costs are not integers: the DP's exact grid needs them.
 */
export function additiveOptimum(space: Space, loss: number[][]): { value: number; genome: Genome } {
  if (space.units.some((u) => u.cost.some((c) => !Number.isInteger(c)))) throw new Error('additiveOptimum needs integer costs');
  const optimum = bestAllocation(new SpaceIndex(space), loss, Number.MAX_SAFE_INTEGER);
  if (!optimum) throw new Error('no configuration meets the budget');
  return optimum;
}
