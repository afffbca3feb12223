import type { Genome, Space } from '../space/space.js';
import type { Fidelity } from '../strategies/types.js';
import type { LmFitnessSpec } from './lm.js';
import type { ImageFitnessSpec } from './image.js';
import type { ClassifierFitnessSpec } from './classifier.js';

/** What a worker needs to build a fitness: plain JSON, sent once per run to each worker. */
export type FitnessSpec =
  | { type: 'module'; path: string; minimize: boolean; slices: number }
  | { type: 'command'; command: string[]; cwd: string; minimize: boolean; slices: number }
  | {
      type: 'synthetic';
      seed: number;
      interactions?: { pairs: number; strength: number };
      noise: number;
      minimize: boolean;
      slices: number;
    }
  | LmFitnessSpec
  | ImageFitnessSpec
  | ClassifierFitnessSpec;

/** A loaded fitness in a worker. Values are raw: the engine applies `minimize`. */
export interface Fitness {
  evaluate(genome: Genome, fidelity: Fidelity): number | Promise<number>;
  close?(): void | Promise<void>;
}

export interface FitnessContext {
  space: Space;
  seed: number;
}

/** A short name for messages: which fitness failed. */
export function describeFitness(spec: FitnessSpec): string {
  switch (spec.type) {
    case 'module':
      return `fitness module ${spec.path}`;
    case 'command':
      return `fitness command "${spec.command.join(' ')}"`;
    case 'synthetic':
      return 'synthetic fitness';
    default:
      return `${spec.type} fitness on ${spec.backend}`;
  }
}

/**
 * The calibration samples (indices into a pool of `poolSize`) that a fidelity reads:
 * ⌈budget·perBudget⌉ consecutive samples from slice·perBudget on, wrapping around. Racing stages
 * with larger budgets read more of the same text or images, and a (budget, slice) always reads the
 * same samples, which keeps resume exact.
 */
export function samplesFor({ budget, slice }: Fidelity, perBudget: number, poolSize: number): number[] {
  const n = Math.max(1, Math.ceil(budget * perBudget - 1e-9));
  return Array.from({ length: n }, (_, i) => (slice * perBudget + i) % poolSize);
}
