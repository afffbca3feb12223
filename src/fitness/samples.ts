import type { Fidelity } from '../space/space.js';
import { samplesFor, type FitnessSpec, type SampleLayout } from './types.js';
import type { LmFitnessSpec } from './lm.js';

/** Where a language-model fitness's windows lie in its pool: the search windows first, the validation windows after them. */
export function lmLayout(spec: Pick<LmFitnessSpec, 'windows' | 'slices' | 'validationSlices'>): SampleLayout {
  return { perBudget: spec.windows, slices: spec.slices, validationSlices: spec.validationSlices };
}

/**
 * A language-model fitness's value is made of its windows' values: how they combine (their mean in
 * window order; perplexity: its exponential). LmFitness.evaluate combines them with this, and so
 * does a pool that splits a candidate's windows among workers: the value is the same number either way.
 */
export const lmSamples = {
  combine(spec: Pick<LmFitnessSpec, 'type'>, values: number[]): number {
    let total = 0;
    for (const v of values) total += v;
    const mean = total / values.length;
    return spec.type === 'ppl' ? Math.exp(mean) : mean;
  },
};

/**
 * For a fitness whose value is made of independent samples (a language model's calibration
 * windows): which samples a fidelity reads, and how their values, in sample order, make the
 * value (as the fitness's own evaluate makes it, bit for bit). Null for the others. Kept apart
 * from the fitnesses themselves, so that the coordinator's pool needs none of their runtimes.
 */
export interface SampleSplit {
  /** Which of the pool's samples a fidelity reads, in sample order: a sample's value depends on the configuration and this index alone. */
  windows(fidelity: Fidelity): number[];
  combine(values: number[]): number;
}

export function sampleSplit(spec: FitnessSpec): SampleSplit | null {
  if (spec.type !== 'kl' && spec.type !== 'kl-topk' && spec.type !== 'ppl') return null;
  return {
    windows: (fidelity) => samplesFor(fidelity, lmLayout(spec)),
    combine: (values) => lmSamples.combine(spec, values),
  };
}
