import { genomeKey, type Genome } from '../space/space.js';
import type { Rng } from '../rng/rng.js';

/**
 * How noisy the fitness is, measured by replicates: a candidate and the reference it was measured
 * with are measured again, together, on another calibration slice. The change in their difference
 * is pure measurement noise (whatever a slice adds to both cancels), with variance 4σ² for a
 * per-measurement noise σ. With one slice there are no replicates: to the search, the fitness is
 * then exact, whatever it would say on other data.
 */
export interface NoiseEstimate {
  /** The pair to measure again: its score difference on `slice`. */
  pending: { genome: Genome; reference: Genome; delta: number; slice: number } | null;
  /** Running mean of σ² from the replicates so far. */
  variance: number;
  replicates: number;
  /** Running mean of the squared measured differences between a request's contenders and its reference. */
  spread: number;
}

export const noNoiseYet = (): NoiseEstimate => ({ pending: null, variance: 0, replicates: 0, spread: 0 });

/** Replicates seen before the estimate decides anything. */
export const REPLICATES_TO_DECIDE = 8;

/** Whether a generation picks a pair to measure again: every other one, and never with one slice (no replicate is possible then, and no random draw is spent on one). */
export function replicateNow(generation: number, slices: number): boolean {
  return slices > 1 && generation % 2 === 0;
}

/** Running means over about the last 20 values (plain means before that). */
function runningMean(mean: number, value: number, count: number): number {
  return mean + (value - mean) / Math.min(count, 20);
}

/** The candidates to add to a request on `slice` so that the pending pair is measured again; none on the same slice. */
export function replicateCandidates(noise: NoiseEstimate, slice: number, reference: Genome): Genome[] {
  const pending = noise.pending;
  if (!pending || pending.slice === slice) return [];
  return genomeKey(pending.reference) === genomeKey(reference) ? [pending.genome] : [pending.genome, pending.reference];
}

/**
 * Folds one request into the estimate: the pending pair, if the request measured it again (its
 * replicate candidates are among `candidates`), and the mean square of the differences between the
 * `contenders` (indices: what a switch changes) and the `reference`. Then picks the next pair at
 * random among `pairable` (indices of measured candidates), or none when `pickNext` is false.
 */
export function updateNoise(
  noise: NoiseEstimate,
  request: { candidates: Genome[]; scores: number[]; reference: number; slice: number },
  contenders: number[],
  pairable: number[],
  rng: Rng,
  pickNext: boolean,
): NoiseEstimate {
  const { candidates, scores, reference, slice } = request;
  let { variance, replicates, spread } = noise;
  const pending = noise.pending;
  if (pending && pending.slice !== slice) {
    const at = (g: Genome) => candidates.findIndex((c) => genomeKey(c) === genomeKey(g));
    const a = at(pending.genome);
    const b = at(pending.reference);
    if (a >= 0 && b >= 0 && Number.isFinite(scores[a]) && Number.isFinite(scores[b])) {
      replicates++;
      variance = runningMean(variance, (scores[a] - scores[b] - pending.delta) ** 2 / 4, replicates);
    }
  }
  const deltas = contenders.filter((i) => Number.isFinite(scores[i])).map((i) => scores[i] - scores[reference]);
  if (deltas.length > 0 && Number.isFinite(scores[reference])) {
    const fresh = deltas.reduce((sum, d) => sum + d * d, 0) / deltas.length;
    spread = spread === 0 ? fresh : runningMean(spread, fresh, 20);
  }
  const measured = pairable.filter((i) => i !== reference && Number.isFinite(scores[i]));
  const next = pickNext && measured.length > 0 ? rng.pick(measured) : -1;
  return {
    pending: next >= 0 ? { genome: candidates[next], reference: candidates[reference], delta: scores[next] - scores[reference], slice } : pending && pending.slice === slice ? pending : null,
    variance,
    replicates,
    spread,
  };
}

/**
 * True when measurements no longer tell better from worse: the noise in a measured difference
 * (variance 2σ²) makes up a quarter or more of the differences' mean square. (Measured on the
 * synthetic families: below that, selection on measurements still wins; at half, the model-led
 * mode was already 5–10× closer to the optimum.)
 */
export function noiseSwampsSwitches(noise: NoiseEstimate): boolean {
  return noise.replicates >= REPLICATES_TO_DECIDE && noise.spread > 0 && 2 * noise.variance >= 0.25 * noise.spread;
}
