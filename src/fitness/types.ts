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
