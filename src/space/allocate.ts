import type { Genome, SpaceIndex } from './space.js';

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * The genome that minimises Σ value[u][level] within the budget, by dynamic programming over the
 * total cost. `value[u][level] === null` keeps a level out. Costs above each unit's cheapest level
 * go on a grid: integer costs divided by their common divisor give an exact grid when it has at
 * most `maxCells` cells (then the answer is the exact optimum, lower bound included); otherwise
 * costs round up to `maxCells` cells, which keeps the answer within the upper bound but may miss
 * an `equal` budget's lower bound (callers check `fits`). Null when nothing allowed fits, or when
 * the space's cost is not additive (an architecture space).
 */
export function bestAllocation(space: SpaceIndex, value: (number | null)[][], maxCells = 8192): { genome: Genome; value: number } | null {
  const grid = costGrid(space, maxCells);
  if (!grid) return null;
  const { cap, floor, weights } = grid;
  let best = new Float64Array(cap + 1).fill(Infinity);
  best[0] = 0;
  const choice: Int16Array[] = [];
  for (let u = 0; u < value.length; u++) {
    const next = new Float64Array(cap + 1).fill(Infinity);
    const pick = new Int16Array(cap + 1).fill(-1);
    const options = value[u].flatMap((v, level) => (v === null ? [] : [{ level, w: weights[u][level], v }]));
    for (let c = 0; c <= cap; c++) {
      const here = best[c];
      if (here === Infinity) continue;
      for (const o of options) {
        const nc = c + o.w;
        if (nc <= cap && here + o.v < next[nc]) {
          next[nc] = here + o.v;
          pick[nc] = o.level;
        }
      }
    }
    choice.push(pick);
    best = next;
  }
  let end = -1;
  for (let c = floor; c <= cap; c++) if (best[c] < Infinity && (end < 0 || best[c] < best[end])) end = c;
  if (end < 0) return null;
  const genome: Genome = new Array(value.length);
  for (let u = value.length - 1, c = end; u >= 0; u--) {
    genome[u] = choice[u][c];
    c -= weights[u][genome[u]];
  }
  return { genome, value: best[end] };
}

/**
 * As {@link bestAllocation}, plus a term for each pair of consecutive units: minimises
 * Σ value[u][level_u] + Σ_{u≥1} pair(u, level_{u−1}, level_u). The DP carries the previous unit's
 * level, so it costs (allowed levels)² per unit and cell instead of (allowed levels).
 */
export function bestChainAllocation(
  space: SpaceIndex,
  value: (number | null)[][],
  pair: (unit: number, previous: number, level: number) => number,
  maxCells = 8192,
): { genome: Genome; value: number } | null {
  const grid = costGrid(space, maxCells);
  if (!grid) return null;
  const { cap, floor, weights } = grid;
  const width = cap + 1;
  // best[k·width + c]: the lowest value of units 0..u with unit u at its k-th allowed level and cost c.
  let levels: number[] = [-1];
  let best = new Float64Array(width).fill(Infinity);
  best[0] = 0;
  const back: { levels: number[]; from: Int16Array }[] = [];
  for (let u = 0; u < value.length; u++) {
    const here = value[u].flatMap((v, level) => (v === null ? [] : [level]));
    const next = new Float64Array(here.length * width).fill(Infinity);
    const from = new Int16Array(here.length * width).fill(-1);
    here.forEach((level, j) => {
      const w = weights[u][level];
      levels.forEach((previous, k) => {
        const add = value[u][level]! + (u > 0 ? pair(u, previous, level) : 0);
        for (let c = 0; c + w <= cap; c++) {
          const v = best[k * width + c] + add;
          if (v < next[j * width + c + w]) {
            next[j * width + c + w] = v;
            from[j * width + c + w] = k;
          }
        }
      });
    });
    back.push({ levels: here, from });
    levels = here;
    best = next;
  }
  let end = -1;
  for (let i = 0; i < best.length; i++) if (i % width >= floor && best[i] < Infinity && (end < 0 || best[i] < best[end])) end = i;
  if (end < 0) return null;
  const genome: Genome = new Array(value.length);
  let k = Math.floor(end / width);
  let c = end % width;
  for (let u = value.length - 1; u >= 0; u--) {
    const level = back[u].levels[k];
    genome[u] = level;
    const previous = back[u].from[k * width + c];
    c -= weights[u][level];
    k = previous;
  }
  return { genome, value: best[end] };
}

/**
 * Costs above each unit's cheapest level on a grid of at most `maxCells` cells: exact when integer
 * costs divided by their common divisor fit (the lower bound then holds too), else rounded up.
 */
function costGrid(space: SpaceIndex, maxCells: number): { cap: number; floor: number; weights: number[][] } | null {
  // An architecture's size is not a sum over its genes: no allocation DP applies.
  if (!space.additive) return null;
  const units = space.space.units;
  const mins = units.map((u) => Math.min(...u.cost));
  const base = mins.reduce((s, m) => s + m, 0);
  const room = space.hi - base;
  if (!(room >= 0) || !Number.isFinite(room)) return null;
  const extras = units.map((u, i) => u.cost.map((c) => c - mins[i]));
  let cell = room / maxCells;
  let exact = false;
  if (extras.every((row) => row.every(Number.isInteger))) {
    const g = extras.reduce((acc, row) => row.reduce(gcd, acc), 0) || 1;
    if (room / g <= maxCells) [cell, exact] = [g, true];
  }
  if (!(cell > 0)) [cell, exact] = [1, true]; // room 0: only the cheapest configuration fits
  const cap = Math.floor(room / cell + 1e-9);
  const floor = exact ? Math.max(0, Math.ceil((space.lo - base) / cell - 1e-9)) : 0;
  return { cap, floor, weights: extras.map((row) => row.map((c) => Math.ceil(c / cell - 1e-9))) };
}
