import { createHash } from 'node:crypto';
import type { Rng } from '../rng/rng.js';
import type { Budget, Unit } from './schema.js';
import { DTYPE_BYTES, architectureBytes, type Architecture } from './architecture.js';

export type { Budget, Unit };

export interface Space {
  units: Unit[];
  budget: Budget;
  /**
   * The uniform configuration when the space defines one (a level database: every layer at the
   * target sparsity or bit-width); otherwise {@link SpaceIndex.uniform} derives it from the costs.
   */
  uniform?: Genome;
  /**
   * Where searches begin, when not at the uniform configuration: a budget sweep starts each budget
   * from the previous budget's best, repaired into this one.
   */
  start?: Genome;
  /**
   * Architecture spaces: the units are a student's hyper-parameters and the total cost is its
   * parameter bytes (see architecture.ts); a unit's `cost` then only orders its levels.
   */
  architecture?: Architecture;
}

/** genome[i] is the level index of unit i. */
export type Genome = number[];

/** How much of the calibration data an evaluation uses (`budget`) and which deterministic part (`slice`). */
export interface Fidelity {
  budget: number;
  slice: number;
}

/**
 * A space with its derived lookups, built once. Strategies move units along their levels sorted
 * by cost ("rank"), so that "up a level" means "the next more expensive level" whatever order the
 * user listed the levels in.
 */
export class SpaceIndex {
  readonly space: Space;
  /** byRank[i][r]: the level index of unit i at cost rank r (rank 0 is the cheapest). */
  readonly byRank: number[][];
  /** rankOf[i][level]: the cost rank of a level. */
  readonly rankOf: number[][];
  /** The lowest and highest total cost a feasible genome may have. */
  readonly lo: number;
  readonly hi: number;
  /** Whether the total cost is the sum of the units' level costs (level databases, synthetic spaces) or an architecture's size. */
  readonly additive: boolean;
  private readonly eps: number;

  constructor(space: Space) {
    this.space = space;
    this.additive = !space.architecture;
    this.byRank = space.units.map((u) =>
      u.cost.map((_, l) => l).sort((a, b) => u.cost[a] - u.cost[b] || a - b),
    );
    this.rankOf = this.byRank.map((order) => {
      const r: number[] = new Array(order.length);
      order.forEach((level, rank) => (r[level] = rank));
      return r;
    });
    const { budget } = space;
    const tol = budget.mode === 'equal' ? budget.tolerance : 0;
    this.lo = budget.mode === 'equal' ? budget.total - tol : -Infinity;
    this.hi = budget.total + tol;
    // Costs are often parameter counts in the millions: compare with a relative tolerance.
    this.eps = 1e-9 * Math.max(1, Math.abs(budget.total));
  }

  get size(): number {
    return this.space.units.length;
  }

  levelCount(unit: number): number {
    return this.byRank[unit].length;
  }

  cost(genome: Genome): number {
    if (this.space.architecture) return architectureBytes(this.space.architecture, this.space.units, genome);
    let total = 0;
    for (let i = 0; i < genome.length; i++) total += this.space.units[i].cost[genome[i]];
    return total;
  }

  /** How much the total cost changes when `unit` moves to cost rank `rank`; the genome is left as it was. */
  stepCost(genome: Genome, unit: number, rank: number): number {
    const level = this.byRank[unit][rank];
    if (this.additive) return this.space.units[unit].cost[level] - this.space.units[unit].cost[genome[unit]];
    const before = genome[unit];
    const cost = this.cost(genome);
    genome[unit] = level;
    const after = this.cost(genome);
    genome[unit] = before;
    return after - cost;
  }

  fits(cost: number): boolean {
    return cost <= this.hi + this.eps && cost >= this.lo - this.eps;
  }

  overBudget(cost: number): boolean {
    return cost > this.hi + this.eps;
  }

  underBudget(cost: number): boolean {
    return cost < this.lo - this.eps;
  }

  isValid(genome: Genome): boolean {
    if (genome.length !== this.size) return false;
    return genome.every((l, i) => Number.isInteger(l) && l >= 0 && l < this.levelCount(i));
  }

  isFeasible(genome: Genome): boolean {
    return this.isValid(genome) && this.fits(this.cost(genome));
  }

  rank(genome: Genome, unit: number): number {
    return this.rankOf[unit][genome[unit]];
  }

  /** `values` (per unit and level) with every level more than `radius` ranks from `center`'s set to null: the levels a move of that reach allows. */
  nearby<T>(values: (T | null)[][], center: Genome, radius: number): (T | null)[][] {
    return values.map((row, u) => row.map((v, level) => (Math.abs(this.rankOf[u][level] - this.rankOf[u][center[u]]) <= radius ? v : null)));
  }

  /** Sets unit to the level at a cost rank; returns the change in total cost. */
  setRank(genome: Genome, unit: number, rank: number): number {
    const delta = this.stepCost(genome, unit, rank);
    genome[unit] = this.byRank[unit][rank];
    return delta;
  }

  /** Where a search begins: the space's `start` when it has one (and it fits), else {@link uniform}. */
  start(): Genome | null {
    return this.space.start && this.isFeasible(this.space.start) ? [...this.space.start] : this.uniform();
  }

  /**
   * The space's own uniform configuration when it defines one (and it fits); otherwise the most
   * uniform feasible genome: every unit at the same fraction of its own cost range, as
   * high as the budget allows, then the remaining slack handed out to the units that sit lowest in
   * their range. Deterministic. Returns null when no genome of this shape fits (see {@link checkBudget}).
   */
  uniform(): Genome | null {
    if (this.space.uniform) return this.isFeasible(this.space.uniform) ? [...this.space.uniform] : null;
    const genomeAt = (f: number): Genome =>
      this.space.units.map((u, i) => {
        const order = this.byRank[i];
        const min = u.cost[order[0]];
        const max = u.cost[order[order.length - 1]];
        const target = min + f * (max - min) + this.eps;
        let r = 0;
        while (r + 1 < order.length && u.cost[order[r + 1]] <= target) r++;
        return order[r];
      });
    let lo = 0;
    let hi = 1;
    if (this.overBudget(this.cost(genomeAt(0)))) return null;
    if (!this.overBudget(this.cost(genomeAt(1)))) return genomeAt(1);
    for (let k = 0; k < 60; k++) {
      const mid = (lo + hi) / 2;
      if (this.overBudget(this.cost(genomeAt(mid)))) hi = mid;
      else lo = mid;
    }
    const genome = genomeAt(lo);
    this.fillEvenly(genome);
    return this.fits(this.cost(genome)) ? genome : null;
  }

  /** Raises the unit lowest in its own cost range by one rank, while the budget allows. */
  private fillEvenly(genome: Genome): void {
    let cost = this.cost(genome);
    for (;;) {
      let best = -1;
      let bestFraction = Infinity;
      for (let i = 0; i < this.size; i++) {
        const r = this.rank(genome, i);
        const top = this.levelCount(i) - 1;
        if (r === top) continue;
        if (this.overBudget(cost + this.stepCost(genome, i, r + 1))) continue;
        const fraction = r / top;
        if (fraction < bestFraction) {
          bestFraction = fraction;
          best = i;
        }
      }
      if (best < 0) return;
      cost += this.setRank(genome, best, this.rank(genome, best) + 1);
    }
  }

  /**
   * Moves a genome into the budget with random single-rank steps: down while over, then (when
   * `fill` is set, or when under an `equal` budget) up while a step still fits. Mutates in place.
   * Returns false when no feasible genome was reached.
   */
  repair(genome: Genome, rng: Rng, fill: boolean): boolean {
    let cost = this.cost(genome);
    const lowerable: number[] = [];
    const raisable: number[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      while (this.overBudget(cost)) {
        lowerable.length = 0;
        for (let i = 0; i < this.size; i++) if (this.rank(genome, i) > 0) lowerable.push(i);
        if (lowerable.length === 0) return false;
        const u = rng.pick(lowerable);
        cost += this.setRank(genome, u, this.rank(genome, u) - 1);
      }
      if (fill || this.underBudget(cost)) {
        for (;;) {
          raisable.length = 0;
          for (let i = 0; i < this.size; i++) {
            const r = this.rank(genome, i);
            if (r + 1 >= this.levelCount(i)) continue;
            if (!this.overBudget(cost + this.stepCost(genome, i, r + 1))) raisable.push(i);
          }
          if (raisable.length === 0) break;
          if (!fill && !this.underBudget(cost)) break;
          const u = rng.pick(raisable);
          cost += this.setRank(genome, u, this.rank(genome, u) + 1);
        }
      }
      if (this.fits(cost)) return true;
      // Under an `equal` budget and stuck: step one random unit down and try again.
      const u = rng.int(0, this.size - 1);
      if (this.rank(genome, u) > 0) cost += this.setRank(genome, u, this.rank(genome, u) - 1);
    }
    return this.fits(cost);
  }

  /** A uniformly random genome, repaired into the budget and filled. */
  random(rng: Rng): Genome | null {
    const genome = this.space.units.map((u) => rng.int(0, u.levels.length - 1));
    return this.repair(genome, rng, true) ? genome : null;
  }
}

/**
 * The cheapest and most expensive total cost any genome can have. In an architecture space every
 * gene but the first (depth) raises the size; depth may not (a CNN's extra pooling stage can shrink
 * its dense layer), so each depth is tried with the other genes at their extremes.
 */
export function costRange(space: Space): { min: number; max: number } {
  const arch = space.architecture;
  if (arch) {
    const at = (depth: number, top: boolean) => architectureBytes(arch, space.units, space.units.map((u, i) => (i === 0 ? depth : extremeLevel(u, top))));
    const depths = space.units[0].levels.map((_, l) => l);
    return { min: Math.min(...depths.map((d) => at(d, false))), max: Math.max(...depths.map((d) => at(d, true))) };
  }
  let min = 0;
  let max = 0;
  for (const u of space.units) {
    min += Math.min(...u.cost);
    max += Math.max(...u.cost);
  }
  return { min, max };
}

/** The level with the smallest (or largest) value of an architecture unit. */
function extremeLevel(u: Unit, top: boolean): number {
  let best = 0;
  u.levels.forEach((v, l) => {
    if (top ? v > u.levels[best] : v < u.levels[best]) best = l;
  });
  return best;
}

/**
 * Why no genome can meet the budget, or null when one can. The check is exact for `atMost`;
 * for `equal` it also needs the deterministic uniform construction to land inside the tolerance.
 */
export function checkBudget(space: Space): string | null {
  const { min, max } = costRange(space);
  const { budget } = space;
  const index = new SpaceIndex(space);
  if (index.overBudget(min)) {
    return `the cheapest configuration costs ${describeCost(space, min)}, above the budget ${describeBudget(budget)}`;
  }
  if (index.underBudget(max)) {
    return `the most expensive configuration costs ${describeCost(space, max)}, below the budget ${describeBudget(budget)}`;
  }
  if (index.uniform() === null) {
    return `no configuration was found with a cost inside ${describeBudget(budget)} (costs range ${min}..${max}); widen budget.tolerance`;
  }
  return null;
}

/** A total cost, and in an architecture space what it is made of. */
function describeCost(space: Space, cost: number): string {
  if (!space.architecture) return `${cost}`;
  const bytes = DTYPE_BYTES[space.architecture.dtype];
  return `${cost} (${cost / bytes} parameters × ${bytes} bytes)`;
}

export function describeBudget(budget: Budget): string {
  return budget.mode === 'equal' ? `${budget.total} ± ${budget.tolerance}` : `≤ ${budget.total}`;
}

/** A genome as a short string, for sets and maps of configurations. */
export function genomeKey(genome: Genome): string {
  return genome.join(',');
}

/** A stable fixed-length key for a genome: the store keys evaluations by it. */
export function genomeHash(genome: Genome): string {
  return createHash('sha1').update(genomeKey(genome)).digest('hex');
}
