import { z } from 'zod';
import { Rng, hash32 } from '../rng/rng.js';
import { SpaceIndex, type Genome, type Space, type Fidelity } from '../space/space.js';
import { bestAllocation, bestChainAllocation } from '../space/allocate.js';
import { fitnessCommon } from './types.js';

export const syntheticFitnessSchema = z.strictObject({
  type: z.literal('synthetic'),
  seed: z.number().int().default(1),
  /** Pairwise terms on top of the additive losses: `pairs` random pairs of mean weight `strength`. */
  interactions: z.strictObject({ pairs: z.number().int().min(0), strength: z.number().min(0) }).optional(),
  /**
   * How per-unit losses combine. `additive`: their sum. `chain`: each unit's loss is amplified by
   * the previous unit's (error compounding through consecutive layers): Σ e_u·(1 + strength·e_{u−1}/ē),
   * ē the mean unit loss of the uniform configuration. `multiplicative`: Π(1 + e_u/s) − 1, with s
   * such that the uniform configuration's Σ log(1 + e_u/s) is `strength`.
   */
  propagation: z.enum(['additive', 'chain', 'multiplicative']).default('additive'),
  strength: z.number().min(0).default(1),
  /** Standard deviation of evaluation noise at fidelity budget 1, in `noiseScale` units. */
  noise: z.number().min(0).default(0),
  /** `absolute`: `noise` is in loss units; `uniformLoss`: a fraction of the uniform configuration's loss. */
  noiseScale: z.enum(['absolute', 'uniformLoss']).default('absolute'),
  /**
   * true: noise is drawn per (configuration, slice, budget) and shrinks as 1/√budget, like a mean
   * over more calibration data; false: drawn per (configuration, slice), the same at every budget.
   */
  noiseShrinks: z.boolean().default(true),
  ...fitnessCommon,
});

export type SyntheticFitnessSpec = z.infer<typeof syntheticFitnessSchema>;

/** What the problem itself needs from a spec. */
export type SyntheticProblemSpec = Pick<SyntheticFitnessSpec, 'seed' | 'interactions'> &
  Partial<Pick<SyntheticFitnessSpec, 'propagation' | 'strength' | 'noise' | 'noiseScale' | 'noiseShrinks'>>;

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
    const uniform = this.index.uniform();
    const uniformLosses = uniform ? uniform.map((level, i) => this.loss[i][level]) : [];
    const mean = uniformLosses.reduce((a, b) => a + b, 0) / Math.max(1, uniformLosses.length);
    this.scale = spec.propagation === 'chain' ? mean || 1 : spec.propagation === 'multiplicative' ? multiplicativeScale(uniformLosses, spec.strength ?? 1) : 1;
    const noise = spec.noise ?? 0;
    this.noiseSd = spec.noiseScale === 'uniformLoss' ? noise * (uniform ? this.exact(uniform) : 0) : noise;
  }

  /** ē for `chain`, s for `multiplicative`: set from the uniform configuration (1 otherwise). */
  private readonly scale: number;
  /** The noise's standard deviation at budget 1, in loss units. */
  readonly noiseSd: number;

  /** The noise-free objective. */
  exact(genome: Genome): number {
    let total = this.combine(genome);
    for (const { a, b, weight } of this.pairs) {
      total += weight * this.compression(genome, a) * this.compression(genome, b);
    }
    return total;
  }

  /**
   * The objective on which a gap to the optimum is measured: the loss itself, except for
   * `multiplicative` propagation, where it is log(1 + loss) = Σ log(1 + e_u/s), additive and exact for the DP.
   */
  gapObjective(genome: Genome): number {
    const value = this.exact(genome);
    return this.spec.propagation === 'multiplicative' ? Math.log1p(value) : value;
  }

  /**
   * The exact optimum of {@link gapObjective} under the budget; throws when pairwise interactions
   * make it unknown. With `near`, the optimum among configurations whose units are all within
   * `radius` ranks of `center`'s: the best any move of that reach can find, so that repeating it
   * from where it lands is steepest descent with an exact model of the neighbourhood.
   */
  optimum(near?: { center: Genome; radius: number }): { value: number; genome: Genome } {
    if (this.pairs.length > 0) throw new Error('no exact optimum with pairwise interactions');
    const space = this.index.space;
    const reach = (rows: number[][]) => (near ? this.index.nearby(rows, near.center, near.radius) : rows);
    switch (this.spec.propagation ?? 'additive') {
      case 'additive':
        return additiveOptimum(space, reach(this.loss));
      case 'multiplicative':
        return additiveOptimum(space, reach(this.loss.map((row) => row.map((e) => Math.log1p(e / this.scale)))));
      case 'chain':
        return chainOptimum(this.index, reach(this.loss), (e, previous) => e * (1 + ((this.spec.strength ?? 1) * previous) / this.scale));
    }
  }

  evaluate(genome: Genome, fidelity: Fidelity): number {
    const value = this.exact(genome);
    if (this.noiseSd === 0) return value;
    const shrinks = this.spec.noiseShrinks ?? true;
    const key = shrinks ? `${this.spec.seed}:${fidelity.slice}:${fidelity.budget}:${genome.join(',')}` : `${this.spec.seed}:${fidelity.slice}:${genome.join(',')}`;
    const sd = shrinks ? this.noiseSd / Math.sqrt(Math.max(fidelity.budget, 1e-9)) : this.noiseSd;
    return value + sd * Rng.fromSeed(hash32(key)).normal();
  }

  /** The per-unit losses combined as `propagation` says. */
  private combine(genome: Genome): number {
    const propagation = this.spec.propagation ?? 'additive';
    const strength = this.spec.strength ?? 1;
    let total = 0;
    if (propagation === 'multiplicative') {
      for (let i = 0; i < genome.length; i++) total += Math.log1p(this.loss[i][genome[i]] / this.scale);
      return Math.expm1(total);
    }
    for (let i = 0; i < genome.length; i++) {
      const e = this.loss[i][genome[i]];
      total += propagation === 'chain' && i > 0 ? e * (1 + (strength * this.loss[i - 1][genome[i - 1]]) / this.scale) : e;
    }
    return total;
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
export function additiveOptimum(space: Space, loss: (number | null)[][]): { value: number; genome: Genome } {
  if (space.units.some((u) => u.cost.some((c) => !Number.isInteger(c)))) throw new Error('additiveOptimum needs integer costs');
  const optimum = bestAllocation(new SpaceIndex(space), loss, Number.MAX_SAFE_INTEGER);
  if (!optimum) throw new Error('no configuration meets the budget');
  return optimum;
}

/** The s at which Σ log(1 + e_u/s) = depth (found by bisection: the sum falls as s grows). */
function multiplicativeScale(losses: number[], depth: number): number {
  const total = losses.reduce((a, b) => a + b, 0);
  if (total === 0 || depth === 0) return 1;
  const at = (s: number) => losses.reduce((sum, e) => sum + Math.log1p(e / s), 0);
  let lo = 1e-12;
  let hi = total / depth; // log1p(x) ≤ x, so at(hi) ≤ depth
  for (let k = 0; k < 200; k++) {
    const mid = Math.sqrt(lo * hi);
    if (at(mid) > depth) lo = mid;
    else hi = mid;
  }
  return hi;
}

/**
 * The exact optimum of Σ_u term(e_u, e_{u−1}) under the budget (e_{−1} = 0), where e_u is unit u's
 * loss at its level: the chain DP over (unit, level, integer cost). Levels whose loss is null are
 * not allowed.
 */
export function chainOptimum(space: SpaceIndex, loss: (number | null)[][], term: (e: number, previous: number) => number): { value: number; genome: Genome } {
  if (space.space.units.some((u) => u.cost.some((c) => !Number.isInteger(c)))) throw new Error('chainOptimum needs integer costs');
  // The first unit's term stands alone; every other unit's comes with its predecessor's level.
  const alone = loss.map((row, u) => row.map((e) => (e === null ? null : u === 0 ? term(e, 0) : 0)));
  const optimum = bestChainAllocation(space, alone, (u, previous, level) => term(loss[u][level]!, loss[u - 1][previous]!), Number.MAX_SAFE_INTEGER);
  if (!optimum) throw new Error('no configuration meets the budget');
  return optimum;
}
