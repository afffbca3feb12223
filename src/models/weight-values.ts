import { UserError } from '../errors.js';

/** The largest weight magnitude a trained network plausibly holds: beyond it, a file is corrupt or mis-scaled. */
export const MAX_WEIGHT = 1e6;

/** Throws one line naming the file and the tensor when a weight is NaN, infinite or beyond ±{@link MAX_WEIGHT}. */
export function checkWeightValues(data: Float32Array, name: string, file: string): void {
  for (let i = 0; i < data.length; i++) {
    const x = data[i];
    if (Number.isFinite(x) && Math.abs(x) <= MAX_WEIGHT) continue;
    throw new UserError(`${file}: tensor "${name}" holds ${x} at index ${i}; weights must be finite and within ±${MAX_WEIGHT.toExponential(0)}`);
  }
}
