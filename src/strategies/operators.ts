import type { Genome, SpaceIndex } from '../space/space.js';
import type { Rng } from '../rng/rng.js';

/**
 * Level-switch mutation, generalised to units of different costs. Each switch moves one unit by a
 * jump of 1..maxJump ranks (P(j) ∝ 1/j), up or down, and compensates with other units moving the
 * other way: half the time one unit takes the whole compensation (the classic EvoPress pair
 * switch), half the time it is spread as single-rank steps over several random units. Spreading
 * matters on non-convex losses, where leaving a local optimum takes "one unit jumps 4 ranks, four
 * units give one each". Slack that unequal step costs leave is not filled at random (random fills
 * spoil most offspring); later switches spend it, and an `equal` budget's lower bound is met by
 * raising random units. The number of switches is min(U{1..3}, U{1..3}) as in EvoPress. Returns
 * null when no budget-keeping switch was found (e.g. every unit already sits at its top level).
 */
export function levelSwitch(space: SpaceIndex, parent: Genome, rng: Rng, maxJump: number): Genome | null {
  const child = parent.slice();
  let cost = space.cost(child);
  const switches = Math.min(rng.int(1, 3), rng.int(1, 3));
  for (let s = 0; s < switches; s++) {
    const raiseFirst = rng.next() < 0.5;
    const dir = raiseFirst ? 1 : -1;
    const moved = pickUnit(space, child, rng, (u) => canMove(space, child, u, dir));
    if (moved < 0) return null;
    const rank = space.rank(child, moved);
    const room = dir > 0 ? space.levelCount(moved) - 1 - rank : rank;
    const jump = jumpSize(rng, Math.min(maxJump, room));
    cost += space.setRank(child, moved, rank + dir * jump);
    const concentrated = rng.next() < 0.5;
    if (raiseFirst) {
      cost = lowerUntilFits(space, child, cost, rng, moved, concentrated ? jump : 1);
      if (Number.isNaN(cost)) return null;
    } else if (concentrated) {
      cost = raise(space, child, cost, rng, moved, jump, 1);
    } else {
      cost = raise(space, child, cost, rng, moved, 1, jump);
    }
    if (space.underBudget(cost)) cost = raise(space, child, cost, rng, moved, 1, Infinity);
  }
  return space.fits(cost) ? child : null;
}

/** A jump of 1..max ranks with P(j) ∝ 1/j: mostly small steps, now and then the long jump a non-convex loss needs. */
function jumpSize(rng: Rng, max: number): number {
  let total = 0;
  for (let j = 1; j <= max; j++) total += 1 / j;
  let u = rng.next() * total;
  for (let j = 1; j < max; j++) {
    u -= 1 / j;
    if (u < 0) return j;
  }
  return max;
}

function canMove(space: SpaceIndex, genome: Genome, unit: number, dir: number): boolean {
  const rank = space.rank(genome, unit);
  return dir > 0 ? rank < space.levelCount(unit) - 1 : rank > 0;
}

/** Lowers random units (never `skip`), each by at most `span` ranks, until the budget holds; NaN if it cannot. */
function lowerUntilFits(space: SpaceIndex, genome: Genome, cost: number, rng: Rng, skip: number, span: number): number {
  for (let guard = 0; space.overBudget(cost); guard++) {
    const down = pickUnit(space, genome, rng, (u) => u !== skip && space.rank(genome, u) > 0);
    if (down < 0 || guard > 4 * space.size) return NaN;
    const floor = Math.max(0, space.rank(genome, down) - span);
    while (space.overBudget(cost) && space.rank(genome, down) > floor) {
      cost += space.setRank(genome, down, space.rank(genome, down) - 1);
    }
  }
  return cost;
}

/** Raises up to `units` random units (never `skip`), each by at most `span` ranks, while a step still fits. */
function raise(space: SpaceIndex, genome: Genome, cost: number, rng: Rng, skip: number, span: number, units: number): number {
  const fitsUp = (u: number) => {
    if (u === skip) return false;
    const r = space.rank(genome, u);
    if (r + 1 >= space.levelCount(u)) return false;
    return !space.overBudget(cost + space.stepCost(genome, u, r + 1));
  };
  for (let guard = 0; guard < Math.min(units, 4 * space.size); guard++) {
    const u = pickUnit(space, genome, rng, fitsUp);
    if (u < 0) break;
    for (let k = 0; k < span && fitsUp(u); k++) cost += space.setRank(genome, u, space.rank(genome, u) + 1);
  }
  return cost;
}

/** A random unit satisfying `ok`: a few cheap random probes first, then an exhaustive pick. */
function pickUnit(space: SpaceIndex, genome: Genome, rng: Rng, ok: (unit: number) => boolean): number {
  for (let probe = 0; probe < 8; probe++) {
    const u = rng.int(0, space.size - 1);
    if (ok(u)) return u;
  }
  const eligible: number[] = [];
  for (let u = 0; u < space.size; u++) if (ok(u)) eligible.push(u);
  return eligible.length ? rng.pick(eligible) : -1;
}

/**
 * A wide perturbation: every unit moves one rank up or down with probability `spread` each, then
 * random single-rank steps bring it back into the budget. Each such measurement involves most
 * units at once, so under noise it tells an additive model about every unit's neighbouring
 * levels, where a level switch tells it about two or three.
 */
export function perturbation(space: SpaceIndex, parent: Genome, rng: Rng, spread: number): Genome | null {
  const child = parent.slice();
  for (let u = 0; u < child.length; u++) {
    const x = rng.next();
    const rank = space.rank(child, u);
    if (x < spread && rank + 1 < space.levelCount(u)) space.setRank(child, u, rank + 1);
    else if (x >= spread && x < 2 * spread && rank > 0) space.setRank(child, u, rank - 1);
  }
  return space.repair(child, rng, false) ? child : null;
}

/** Per-gene mutation for the GA: each unit moves by ±1..2 ranks with probability `rate`. */
export function pointMutation(space: SpaceIndex, genome: Genome, rng: Rng, rate: number): void {
  for (let u = 0; u < space.size; u++) {
    if (rng.next() >= rate) continue;
    const top = space.levelCount(u) - 1;
    const delta = (rng.next() < 0.5 ? -1 : 1) * rng.int(1, 2);
    space.setRank(genome, u, Math.min(top, Math.max(0, space.rank(genome, u) + delta)));
  }
}

export function uniformCrossover(a: Genome, b: Genome, rng: Rng): Genome {
  return a.map((level, i) => (rng.next() < 0.5 ? level : b[i]));
}

export function onePointCrossover(a: Genome, b: Genome, rng: Rng): Genome {
  const cut = rng.int(1, Math.max(1, a.length - 1));
  return a.slice(0, cut).concat(b.slice(cut));
}

/** Index of the winner of a k-way tournament (lowest score wins; ties go to the lower index). */
export function tournament(scores: number[], k: number, rng: Rng): number {
  let best = rng.int(0, scores.length - 1);
  for (let i = 1; i < k; i++) {
    const c = rng.int(0, scores.length - 1);
    if (scores[c] < scores[best] || (scores[c] === scores[best] && c < best)) best = c;
  }
  return best;
}

/** Candidate order sorted by score, ties kept in candidate order: selection never depends on timing. */
export function rankByScore(scores: number[]): number[] {
  return scores.map((_, i) => i).sort((a, b) => scores[a] - scores[b] || a - b);
}
