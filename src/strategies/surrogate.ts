import type { Genome, SpaceIndex } from '../space/space.js';

/**
 * An additive model of the score: score ≈ Σ_u w[u][level_u] + constant. Per-layer compression
 * losses are close to additive (EvoPress builds on that), so such a model, learnt from the
 * evaluations the search makes anyway, predicts well which of many possible level switches
 * around the parent are worth an evaluation.
 */
export type AdditiveModel = (number | null)[][];

/** A model that knows only the levels of `start`; levels never seen in an evaluation stay null and out of proposals. */
export function emptyModel(space: SpaceIndex, start: Genome): AdditiveModel {
  return space.space.units.map((u, i) => u.cost.map((_, l) => (l === start[i] ? 0 : null)));
}

/** One measured score(a) − score(b) at one fidelity, kept as the units where a and b differ. */
export interface Difference {
  units: number[];
  a: number[];
  b: number[];
  delta: number;
}

export function difference(a: Genome, b: Genome, delta: number): Difference {
  const d: Difference = { units: [], a: [], b: [], delta };
  for (let u = 0; u < a.length; u++) {
    if (a[u] === b[u]) continue;
    d.units.push(u);
    d.a.push(a[u]);
    d.b.push(b[u]);
  }
  return d;
}

/**
 * Learns from one measured difference (normalised LMS, i.e. a Kaczmarz projection): only units
 * where a and b differ move, so the unknown per-unit constants never matter. Mutates `model`:
 * callers pass a copy they own.
 */
export function learnDifference(model: AdditiveModel, d: Difference, rate: number): void {
  const n = d.units.length;
  if (n === 0) return;
  let predicted = 0;
  for (let k = 0; k < n; k++) {
    const row = model[d.units[k]];
    // A level seen for the first time starts level with the other side: no difference assumed.
    row[d.a[k]] ??= row[d.b[k]] ?? 0;
    row[d.b[k]] ??= row[d.a[k]];
    predicted += row[d.a[k]]! - row[d.b[k]]!;
  }
  const step = (rate * (d.delta - predicted)) / (2 * n);
  for (let k = 0; k < n; k++) {
    const row = model[d.units[k]];
    row[d.a[k]]! += step;
    row[d.b[k]]! -= step;
  }
}

/** The model's predicted score(a) − score(b), or null when a differing level was never seen. */
export function predictDifference(model: AdditiveModel, a: Genome, b: Genome): number | null {
  let delta = 0;
  for (let u = 0; u < a.length; u++) {
    if (a[u] === b[u]) continue;
    const wa = model[u][a[u]];
    const wb = model[u][b[u]];
    if (wa === null || wb === null) return null;
    delta += wa - wb;
  }
  return delta;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * The model's best configuration within `radius` ranks of `center` (where the model is accurate)
 * and within the budget's upper bound, by dynamic programming over costs. Integer costs are
 * divided by their common divisor and solved exactly when the grid is small enough; otherwise
 * costs are rounded up to a grid of `buckets` cells, which keeps the answer within budget.
 */
export function modelOptimum(space: SpaceIndex, model: AdditiveModel, center: Genome, radius: number, buckets = 8192): Genome | null {
  const units = space.space.units;
  const mins = units.map((u) => Math.min(...u.cost));
  const base = mins.reduce((s, m) => s + m, 0);
  const room = space.hi - base;
  if (!(room >= 0) || !Number.isFinite(room)) return null;
  const extras = units.map((u, i) => u.cost.map((c) => c - mins[i]));
  let unit = room / buckets;
  if (extras.every((row) => row.every(Number.isInteger))) {
    const g = extras.reduce((acc, row) => row.reduce(gcd, acc), 0) || 1;
    if (room / g <= buckets) unit = g;
  }
  if (!(unit > 0)) unit = 1;
  const cap = Math.floor(room / unit + 1e-9);
  let best = new Float64Array(cap + 1).fill(Infinity);
  best[0] = 0;
  const choice: Int16Array[] = [];
  const weights: number[][] = [];
  for (let u = 0; u < units.length; u++) {
    const next = new Float64Array(cap + 1).fill(Infinity);
    const pick = new Int16Array(cap + 1).fill(-1);
    const centerRank = space.rankOf[u][center[u]];
    const options: { level: number; w: number; v: number }[] = [];
    model[u].forEach((v, level) => {
      if (v !== null && Math.abs(space.rankOf[u][level] - centerRank) <= radius) {
        options.push({ level, w: Math.ceil(extras[u][level] / unit - 1e-9), v });
      }
    });
    weights.push(extras[u].map((c) => Math.ceil(c / unit - 1e-9)));
    for (let c = 0; c <= cap; c++) {
      const here = best[c];
      if (here === Infinity) continue;
      for (const o of options) {
        const nc = c + o.w;
        if (nc > cap) continue;
        const v = here + o.v;
        if (v < next[nc]) {
          next[nc] = v;
          pick[nc] = o.level;
        }
      }
    }
    choice.push(pick);
    best = next;
  }
  let end = -1;
  for (let c = 0; c <= cap; c++) if (best[c] < Infinity && (end < 0 || best[c] < best[end])) end = c;
  if (end < 0) return null;
  const genome: Genome = new Array(units.length);
  for (let u = units.length - 1, c = end; u >= 0; u--) {
    genome[u] = choice[u][c];
    c -= weights[u][genome[u]];
  }
  return genome;
}
