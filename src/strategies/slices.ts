import { hash32 } from '../rng/rng.js';

/** The calibration slice for (seed, generation, stage): deterministic, so resume and racing stay exact. */
export function sliceFor(seed: number, generation: number, stage: number, slices: number): number {
  if (slices <= 1) return 0;
  return hash32(`${seed}:${generation}:${stage}`) % slices;
}
