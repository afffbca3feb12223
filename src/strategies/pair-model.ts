import { genomeKey, type Genome, type SpaceIndex } from '../space/space.js';
import { Rng } from '../rng/rng.js';
import { bestChainAllocation } from '../space/allocate.js';
import type { Ask, StrategyContext } from './types.js';
import type { EvoPressState } from './evopress.js';
import { sliceFor } from './slices.js';
import { noiseVariance } from './noise.js';
import { sampleVariance } from '../statistics.js';
import { enterModelLed } from './model-led.js';

/**
 * EvoPress's pair-model mode (`modelLed: 'pairs'`, the default), for a noisy fitness whose deciding
 * stage still measures finely; where it does not, the first phase hands over to the averaging mode
 * (see {@link noiseToSignal}). The averaging mode learns and moves one rank at a time; on chain problems the
 * best configuration within one rank of where it stands is 2–9% from the optimum even with an
 * exact model, and a model of single units that ignores how consecutive units interact
 * oscillates when it moves wider (npm run bench: "How far moves of a few ranks reach").
 *
 * So the search works in phases. During a phase the parent stays put and each request measures
 * perturbations that move each unit, with chance `moveChance`, to a level up to `radius` ranks
 * away, and the parent. At the phase's end, least squares fits a value per unit and rank offset,
 * a term per pair of consecutive units' offsets, and a constant per request (what the request's
 * slice adds to every member), with a ridge that follows the noise (see {@link noiseToSignal}); the
 * parent moves to the fit's optimum within `radius` ranks (a chain DP). The first phase has as
 * many measurements as the model has unknowns; each next one `growth` times more, so that finer
 * moves near the optimum rest on more data.
 */
export const PAIRS = { radius: 2, moveChance: 0.5, growth: 1.3, shrink: 30, handOver: 0.2, minRidge: 1e-6 };

/** Perturbations per request: as many as the averaging mode measures, two per offspring slot. */
const requestSize = (offspring: number) => 2 * offspring;

/** Nonzero rank offsets per unit. */
const width = () => 2 * PAIRS.radius;
/** The slot of a nonzero rank offset d ∈ [−radius, radius]. */
const slot = (d: number) => (d < 0 ? d + PAIRS.radius : d + PAIRS.radius - 1);

/** The measurements of the running phase: one score list per request, members in the order {@link phaseRequest} gives. */
export interface PairPhase {
  index: number;
  scores: number[][];
  /** Set when the evaluation cap leaves no room for the next phase: this one then runs to the cap, this many measurements. */
  extendedTo?: number;
}

/** Measurements phase `index` takes before the parent moves: the model's unknowns, then `growth` times more each phase. */
function phaseLength(space: SpaceIndex, index: number): number {
  let length = pairUnknowns(space.size);
  for (let k = 0; k < index; k++) length = Math.ceil(length * PAIRS.growth);
  return length;
}

/** Unknowns of the pair model over `units` units: a value per unit and nonzero offset, a term per consecutive pair of nonzero offsets. */
export function pairUnknowns(units: number): number {
  const w = width();
  return units * w + Math.max(0, units - 1) * w * w;
}

/**
 * The state on entering the mode: the first phase starts at the parent. Earlier parents stop being
 * finalists: a parent here is not the luckiest of noisy measurements but the fit of more data than
 * any before it, and validation slices at the data budget are too noisy to rank it against them.
 */
export function enterPairs(state: EvoPressState): EvoPressState {
  return { ...state, mode: 'pairs', model: null, memory: [], extras: [], recent: [], phase: { index: 0, scores: [] } };
}

/**
 * Request `request` of phase `phase` around `parent`: distinct perturbations, then the parent.
 * Each perturbation draws from its own generator, seeded by (seed, phase, row), so a resumed run
 * rebuilds every request of the phase from the state's scores alone.
 */
export function phaseRequest(space: SpaceIndex, parent: Genome, seed: number, phase: number, request: number, size: number): Genome[] {
  const seen = new Set([genomeKey(parent)]);
  const members: Genome[] = [];
  for (let row = request * size; row < (request + 1) * size; row++) {
    const child = perturbationWithin(space, parent, Rng.fromSeed(`pairs:${seed}:${phase}:${row}`));
    if (!child || seen.has(genomeKey(child))) continue;
    seen.add(genomeKey(child));
    members.push(child);
  }
  return [...members, parent];
}

/** Each unit moves with chance `moveChance` to a level at most `radius` ranks away; repaired into the budget; null when that leaves the radius. */
function perturbationWithin(space: SpaceIndex, parent: Genome, rng: Rng): Genome | null {
  for (let attempt = 0; attempt < 20; attempt++) {
    const child = parent.slice();
    for (let u = 0; u < child.length; u++) {
      if (rng.next() >= PAIRS.moveChance) continue;
      const rank = space.rank(parent, u);
      const offsets: number[] = [];
      for (let d = -PAIRS.radius; d <= PAIRS.radius; d++) if (d !== 0 && rank + d >= 0 && rank + d < space.levelCount(u)) offsets.push(d);
      if (offsets.length > 0) space.setRank(child, u, rank + rng.pick(offsets));
    }
    if (space.repair(child, rng, false) && child.every((_, u) => Math.abs(space.rank(child, u) - space.rank(parent, u)) <= PAIRS.radius)) return child;
  }
  return null;
}

/**
 * One generation's request: the phase's next perturbations and the parent, at the deciding stage's
 * budget. When the phase would end with this request but the evaluation cap (`left`) has no room
 * for the whole next phase, this phase runs on to the cap instead: its one last move then rests on
 * more measurements, where a next phase cut short would move on fewer (measured worse: 1.55%
 * against 0.42% on equal steps with racing).
 */
export function pairsAsk(state: EvoPressState, ctx: StrategyContext, budget: number, offspring: number, left: number): { state: EvoPressState; ask: Ask } {
  let phase = state.phase!;
  const candidates = phaseRequest(ctx.space, state.parent, ctx.seed, phase.index, phase.scores.length, requestSize(offspring));
  const measured = measuredIn(phase) + candidates.length;
  const afterThis = left - candidates.length;
  if (measured >= plannedLength(ctx.space, phase) && afterThis < phaseLength(ctx.space, phase.index + 1)) phase = { ...phase, extendedTo: measured + afterThis };
  return { state: { ...state, phase }, ask: { candidates, fidelity: { budget, slice: sliceFor(ctx.seed, state.generation, 0, ctx.slices) } } };
}

const plannedLength = (space: SpaceIndex, phase: PairPhase) => phase.extendedTo ?? phaseLength(space, phase.index);

const measuredIn = (phase: PairPhase) => phase.scores.reduce((n, s) => n + s.length, 0);

/** Keeps the request's scores; at the phase's end the parent moves to the fitted model's optimum and the next, longer phase starts. */
export function tellPairs(state: EvoPressState, scores: number[], ctx: StrategyContext, offspring: number): EvoPressState {
  const phase = { ...state.phase!, scores: [...state.phase!.scores, scores] };
  // The parent is the request's last member; a parent the evaluation cap left unmeasured keeps its score.
  const parentScore = Number.isFinite(scores.at(-1)) ? scores.at(-1)! : state.parentScore;
  const generation = state.generation + 1;
  if (measuredIn(phase) < plannedLength(ctx.space, phase)) return { ...state, generation, phase, parentScore };
  const requests = phase.scores.map((s, k) => ({ members: phaseRequest(ctx.space, state.parent, ctx.seed, phase.index, k, requestSize(offspring)), scores: s }));
  const ratio = noiseToSignal(state.parent, requests, noiseVariance(state.noise));
  const fit = fitPairModel(ctx.space, state.parent, requests, Math.max(PAIRS.minRidge, PAIRS.shrink * ratio));
  const optimum = pairModelOptimum(ctx.space, fit, state.parent);
  const parent = optimum && genomeKey(optimum) !== genomeKey(state.parent) && ctx.space.isFeasible(optimum) ? optimum : state.parent;
  // A parent that moved carries its predecessor's last score until the next request measures it.
  const moved = { ...state, generation, parent, parentScore };
  if (phase.index === 0 && ratio > PAIRS.handOver) return enterModelLed({ ...moved, phase: null }, ctx.space);
  return { ...moved, phase: { index: phase.index + 1, scores: [] } };
}

/**
 * σ²/τ²: a measurement's noise variance (from the replicates) over what moving one unit adds to
 * the variance between a request's perturbations ((V − σ²) over the units a perturbation moves);
 * Infinity when noise accounts for all of V.
 *
 * It sets the ridge of the phase's fit, `shrink`·σ²/τ² pseudo-measurements per term. Bayes would
 * take shrink 1; but the DP maximises over the fitted terms, so it seeks out the ones noise
 * inflated, and the optimum of a fit shrunk further measured better: shrink 10, 30 and 100 end at
 * 8.9%, 7.0% and 9.9% under constant noise and at 0.32%, 0.16% and 0.90% with racing (equal
 * steps, seeds 1–5). A fixed ridge cannot serve both: the best is about 300 under constant noise
 * and 3–10 with racing; 100 costs racing 12× (3.4% against 0.29%), 1 costs constant noise 1.8×.
 *
 * And after the first phase it decides whether the pair model goes on: above `handOver` the
 * averaging mode takes over from the moved parent. Measured at the first phase over seeds 1–20:
 * 0.01–0.19 with racing (equal steps and unequal costs), 0.65–5.3 under constant noise with 16
 * slices, 0.13–4.2 with one slice (two of 38 seeds below 0.2). Under constant noise the pair model
 * without the hand-over ended 1.1–2.1× further from the optimum than with it (seeds 1–5).
 * σ² is the selection mode's last estimate: the pair model measures no replicates.
 */
export function noiseToSignal(center: Genome, requests: { members: Genome[]; scores: number[] }[], noise: number): number {
  let variance = 0;
  let varianceCount = 0;
  let moved = 0;
  let perturbations = 0;
  for (const { members, scores } of requests) {
    const measured = scores.slice(0, -1).filter(Number.isFinite);
    if (measured.length < 2) continue;
    variance += sampleVariance(measured);
    varianceCount++;
    for (const member of members.slice(0, -1)) {
      moved += member.filter((level, u) => level !== center[u]).length;
      perturbations++;
    }
  }
  if (varianceCount === 0 || moved === 0) return 0;
  const perUnit = (variance / varianceCount - noise) / (moved / perturbations);
  return perUnit > 0 ? noise / perUnit : Infinity;
}

/** Fitted terms around `center`: values[u][slot] per unit and nonzero offset, pairs[(u−1)][slot, slot] per consecutive pair. */
export interface PairModel {
  values: Float64Array;
  pairs: Float64Array;
}

/** The unknowns a member touches: its units' offsets, its consecutive pairs of offsets (indices into values, then pairs). */
function columns(space: SpaceIndex, center: Genome, member: Genome): number[] {
  const w = width();
  const pairBase = space.size * w;
  const cols: number[] = [];
  let previous = 0;
  for (let u = 0; u < member.length; u++) {
    const d = space.rank(member, u) - space.rank(center, u);
    if (d !== 0) {
      cols.push(u * w + slot(d));
      if (previous !== 0) cols.push(pairBase + (u - 1) * w * w + slot(previous) * w + slot(d));
    }
    previous = d;
  }
  return cols;
}

/**
 * Ridge least squares of the requests' scores on the pair model plus a constant per request, by
 * conjugate gradients on the normal equations (the unknowns number in the thousands; each
 * measurement touches a few dozen). Members with a non-finite score are left out.
 */
export function fitPairModel(space: SpaceIndex, center: Genome, requests: { members: Genome[]; scores: number[] }[], ridge: number): PairModel {
  const terms = pairUnknowns(space.size);
  const rows: { cols: Int32Array; y: number }[] = [];
  requests.forEach((r, k) =>
    r.members.forEach((g, i) => {
      if (Number.isFinite(r.scores[i])) rows.push({ cols: Int32Array.from([...columns(space, center, g), terms + k]), y: r.scores[i] });
    }),
  );
  const n = terms + requests.length;
  const normal = (v: Float64Array): Float64Array => {
    const out = new Float64Array(n);
    for (const { cols } of rows) {
      let s = 0;
      for (const c of cols) s += v[c];
      for (const c of cols) out[c] += s;
    }
    for (let i = 0; i < terms; i++) out[i] += ridge * v[i];
    return out;
  };
  const rhs = new Float64Array(n);
  for (const { cols, y } of rows) for (const c of cols) rhs[c] += y;
  const x = conjugateGradients(normal, rhs);
  const w = width();
  return { values: x.slice(0, space.size * w), pairs: x.slice(space.size * w, terms) };
}

function conjugateGradients(apply: (v: Float64Array) => Float64Array, b: Float64Array): Float64Array {
  const x = new Float64Array(b.length);
  const r = b.slice();
  const p = b.slice();
  const dot = (a: Float64Array, c: Float64Array) => a.reduce((s, v, i) => s + v * c[i], 0);
  let rr = dot(r, r);
  const stop = 1e-20 * rr;
  for (let it = 0; it < 500 && rr > stop; it++) {
    const ap = apply(p);
    const alpha = rr / dot(p, ap);
    for (let i = 0; i < x.length; i++) {
      x[i] += alpha * p[i];
      r[i] -= alpha * ap[i];
    }
    const next = dot(r, r);
    for (let i = 0; i < p.length; i++) p[i] = r[i] + (next / rr) * p[i];
    rr = next;
  }
  return x;
}

/** The fitted model's best configuration within the radius of `center` (chain DP: values plus consecutive pair terms). */
export function pairModelOptimum(space: SpaceIndex, model: PairModel, center: Genome): Genome | null {
  const w = width();
  const offset = (u: number, level: number) => space.rankOf[u][level] - space.rank(center, u);
  const values = space.space.units.map((unit, u) =>
    unit.cost.map((_, level) => {
      const d = offset(u, level);
      return Math.abs(d) > PAIRS.radius ? null : d === 0 ? 0 : model.values[u * w + slot(d)];
    }),
  );
  const pair = (u: number, previous: number, level: number) => {
    const a = offset(u - 1, previous);
    const b = offset(u, level);
    return a === 0 || b === 0 ? 0 : model.pairs[(u - 1) * w * w + slot(a) * w + slot(b)];
  };
  return bestChainAllocation(space, values, pair)?.genome ?? null;
}
