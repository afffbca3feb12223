import type { Genome, SpaceIndex } from '../space/space.js';
import { bestAllocation } from '../space/allocate.js';

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

/**
 * Learns from one request under noise, where fitting each difference exactly would fit the noise.
 * Rows are the members' differences to the reference `members[ref]`, less the request's offset
 * (the mean residual, the reference's zero included: its slice's level and its own noise). Each
 * level's value moves by its row's residual over (its measurements so far + the row's units): a
 * running mean of what the measurements say about it, split fairly among the units a row moved.
 * `counts` stop growing at `horizon`, so that the model keeps following losses that shift as other
 * units move. Members with a non-finite score are skipped. Returns new arrays; inputs are not changed.
 */
export function learnAveraged(model: AdditiveModel, counts: number[][], members: Genome[], scores: number[], ref: number, horizon: number): { model: AdditiveModel; counts: number[][] } {
  const value = model.map((row) => row.slice());
  const seen = counts.map((row) => row.slice());
  const rows = members.flatMap((g, j) => (j !== ref && Number.isFinite(scores[j]) ? [difference(g, members[ref], scores[j] - scores[ref])] : []));
  for (const d of rows) {
    d.units.forEach((u, k) => {
      value[u][d.a[k]] ??= value[u][d.b[k]] ?? 0;
      value[u][d.b[k]] ??= value[u][d.a[k]];
    });
  }
  const residuals = rows.map((d) => d.delta - d.units.reduce((sum, u, k) => sum + value[u][d.a[k]]! - value[u][d.b[k]]!, 0));
  const offset = residuals.reduce((a, b) => a + b, 0) / (rows.length + 1);
  rows.forEach((d, i) => {
    d.units.forEach((u, k) => {
      const level = d.a[k];
      seen[u][level] = Math.min(horizon, seen[u][level] + 1);
      value[u][level]! += (residuals[i] - offset) / (seen[u][level] + d.units.length);
    });
  });
  return { model: value, counts: seen };
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

/** The model's best configuration within `radius` ranks of `center`, where the model is accurate. */
export function modelOptimum(space: SpaceIndex, model: AdditiveModel, center: Genome, radius: number): Genome | null {
  return bestAllocation(space, space.nearby(model, center, radius))?.genome ?? null;
}
