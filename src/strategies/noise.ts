import { genomeKey, type Genome, type SpaceIndex } from '../space/space.js';
import type { Rng } from '../rng/rng.js';
import { median, sampleVariance } from '../statistics.js';

/**
 * How noisy the fitness is, measured by replicates: a candidate and the reference it was measured
 * with are measured again, together, on another calibration slice. The change in their difference
 * is pure measurement noise (whatever a slice adds to both cancels), with variance 4σ² for a
 * per-measurement noise σ. With one slice, measuring the same pair again only repeats the same
 * numbers; there the replicate is the same switch made from a later parent (same units, same levels
 * before and after), measured with that parent. Where losses are close to additive it changes the
 * score by the same amount, so the change in the difference is again noise, plus whatever the
 * units the parent moved in between add to it.
 */
export interface NoiseEstimate {
  /** The pair to measure again: its score difference on `slice`. */
  pending: { genome: Genome; reference: Genome; delta: number; slice: number } | null;
  replicates: number;
  /**
   * The latest replicates' squared changes of the difference over 4 (at most
   * {@link REPLICATES_KEPT}): σ² each, in expectation. See {@link noiseVariance}.
   */
  samples: number[];
  /**
   * Running mean of the variance between the measured contenders of one request (the offspring:
   * what switches change). Not their differences to the reference: with one slice the reference
   * carries a lucky draw that would count as spread.
   */
  spread: number;
}

export const noNoiseYet = (): NoiseEstimate => ({ pending: null, replicates: 0, samples: [], spread: 0 });

/**
 * Replicates the variance is estimated from. A median is noisier than a mean (its variance about
 * 2.7× a mean's, for χ²₁), so it takes about three times the 20 values a running mean would.
 */
export const REPLICATES_KEPT = 64;

/** The median of a χ² variable with one degree of freedom: the median of z² for a standard normal z. */
const CHI2_1_MEDIAN = 0.454936;

/**
 * σ²: the samples' median over the median of χ²₁ (0 before any replicate). A median, because a few
 * replicates disturbed by something other than noise cannot move it (with one slice, a unit next to
 * the switched ones that moved in between, where units interact).
 */
export function noiseVariance(noise: NoiseEstimate): number {
  return noise.samples.length === 0 ? 0 : median(noise.samples) / CHI2_1_MEDIAN;
}

/** Replicates seen before the estimate decides anything. */
export const REPLICATES_TO_DECIDE = 8;

/** Whether a generation picks a pair to measure again: every other one. */
export function replicateNow(generation: number): boolean {
  return generation % 2 === 0;
}

/** Running means over about the last 20 values (plain means before that). */
function runningMean(mean: number, value: number, count: number): number {
  return mean + (value - mean) / Math.min(count, 20);
}

/**
 * The pair that measures the pending difference again in a request on `slice` whose reference is
 * `reference`: the same pair on another slice; on the same slice, the pending switch made from
 * `reference` when that is a different configuration whose switched units sit where the pending
 * reference's did, and the result fits the budget. Null when neither is possible.
 */
function replicatePair(noise: NoiseEstimate, slice: number, reference: Genome, space: SpaceIndex): { genome: Genome; reference: Genome } | null {
  const pending = noise.pending;
  if (!pending) return null;
  if (pending.slice !== slice) return { genome: pending.genome, reference: pending.reference };
  if (genomeKey(reference) === genomeKey(pending.reference)) return null;
  const genome = reference.slice();
  for (let u = 0; u < genome.length; u++) {
    if (pending.genome[u] === pending.reference[u]) continue;
    if (reference[u] !== pending.reference[u]) return null;
    genome[u] = pending.genome[u];
  }
  return space.fits(space.cost(genome)) ? { genome, reference } : null;
}

/** The candidates to add to a request on `slice` whose reference is `reference`, so that the pending difference is measured again. */
export function replicateCandidates(noise: NoiseEstimate, slice: number, reference: Genome, space: SpaceIndex): Genome[] {
  // The estimate only decides the switch to model-led moves, which need an additive cost: an
  // architecture space would pay a whole training per replicate for nothing.
  if (!space.additive) return [];
  const pair = replicatePair(noise, slice, reference, space);
  if (!pair) return [];
  return genomeKey(pair.reference) === genomeKey(reference) ? [pair.genome] : [pair.genome, pair.reference];
}

/**
 * Folds one request into the estimate: the pending pair, if the request measured it again (its
 * replicate candidates are among `candidates`), and the variance between the `contenders`
 * (indices: the offspring). Then picks the next pair at
 * random among `pairable` (indices of measured candidates), or none when `pickNext` is false.
 */
export function updateNoise(
  noise: NoiseEstimate,
  request: { candidates: Genome[]; scores: number[]; reference: number; slice: number },
  contenders: number[],
  pairable: number[],
  rng: Rng,
  pickNext: boolean,
  space: SpaceIndex,
): NoiseEstimate {
  const { candidates, scores, reference, slice } = request;
  let { replicates, samples, spread } = noise;
  const pending = noise.pending;
  const pair = replicatePair(noise, slice, candidates[reference], space);
  let measured = false;
  if (pending && pair) {
    const at = (g: Genome) => candidates.findIndex((c) => genomeKey(c) === genomeKey(g));
    const a = at(pair.genome);
    const b = at(pair.reference);
    if (a >= 0 && b >= 0 && Number.isFinite(scores[a]) && Number.isFinite(scores[b])) {
      measured = true;
      replicates++;
      samples = [...samples, (scores[a] - scores[b] - pending.delta) ** 2 / 4].slice(-REPLICATES_KEPT);
    }
  }
  const measuredContenders = contenders.filter((i) => Number.isFinite(scores[i])).map((i) => scores[i]);
  if (measuredContenders.length > 1) {
    const fresh = sampleVariance(measuredContenders);
    spread = spread === 0 ? fresh : runningMean(spread, fresh, 20);
  }
  const pickable = pairable.filter((i) => i !== reference && Number.isFinite(scores[i]));
  const next = pickNext && pickable.length > 0 ? rng.pick(pickable) : -1;
  return {
    pending: next >= 0 ? { genome: candidates[next], reference: candidates[reference], delta: scores[next] - scores[reference], slice } : measured ? null : pending,
    replicates,
    samples,
    spread,
  };
}

/**
 * Noise share of the offspring's variance beyond which the search pools (see
 * {@link noiseSwampsSwitches}). Measured shares with the median estimate (0.4.0): exact chain
 * problems 0–10⁻²⁹; constant noise of 2% of the uniform loss 0.07–0.29 with one slice and
 * 0.12–0.35 with 16; the retrained reference model's KL 0.04–0.09 after 4,000 evaluations on
 * SparseGPT 60% and 70% (seeds 1–5), where it stays selecting. With 0.3.0's running mean: exact families
 * 10⁻⁸–3·10⁻⁴, constant noise 0.02–0.18 and 0.09–0.45, the first reference model 0–0.13.
 */
export const NOISE_SHARE = { slices: 0.25, oneSlice: 0.01 };

/**
 * True when selection on measurements stops working: the noise variance is `share` or more of the
 * variance between the offspring of one request. With several slices the parent is measured
 * afresh every generation, so a lucky draw does not last, and selection copes until noise is a
 * sizeable share. With one slice the parent keeps its lucky draw for good, and once the search
 * is near an optimum no true improvement beats it: any noise beyond what interactions between units
 * show eventually stalls selection.
 */
export function noiseSwampsSwitches(noise: NoiseEstimate, slices: number): boolean {
  const share = slices > 1 ? NOISE_SHARE.slices : NOISE_SHARE.oneSlice;
  return noise.replicates >= REPLICATES_TO_DECIDE && noise.spread > 0 && noiseVariance(noise) >= share * noise.spread;
}
