import { z } from 'zod';
import type { Genome, Space, Fidelity } from '../space/space.js';
import { positiveInt } from '../validation.js';
import type { LmFitnessSpec } from './lm.js';
import type { ImageFitnessSpec } from './image.js';
import type { ClassifierFitnessSpec } from './classifier.js';
import type { ModuleFitnessSpec } from './module.js';
import type { CommandFitnessSpec } from './command.js';
import type { SyntheticFitnessSpec } from './synthetic.js';

/** Default `timeout`, in seconds: module, command and synthetic fitnesses; model fitnesses (which load a model and a level database first). */
export const DEFAULT_TIMEOUT = { fitness: 600, model: 3600 };

/** Seconds one evaluation may take (and loading the fitness in a worker); past it the worker is replaced and the evaluation retried once. */
const timeout = (seconds: number) => z.number().positive().default(seconds);

/** Settings every fitness has. */
export const fitnessCommon = {
  minimize: z.boolean().default(true),
  /** How many distinct calibration slices the fitness offers; strategies pick among them. */
  slices: positiveInt.default(1),
  timeout: timeout(DEFAULT_TIMEOUT.fitness),
};

/** What every fitness that runs a model over a level database has. */
export const modelFitness = {
  /** Memory for level tensors read from the database, in MiB (least recently used are dropped). */
  levelCacheMiB: positiveInt.default(1024),
  /** onnxruntime (the model's graph built here; 2–3× faster here) or TensorFlow.js. */
  backend: z.enum(['onnx', 'tfjs']).default('onnx'),
  /** The model directory, relative to the experiment; default: the one the database was built from. */
  model: z.string().min(1).optional(),
  timeout: timeout(DEFAULT_TIMEOUT.model),
};

/** What the fitnesses of TensorFlow.js LayersModels (psnr, accuracy) share: maximised. */
export const layersModelFitness = {
  ...modelFitness,
  minimize: z.literal(false).default(false),
};

/** What a fitness that runs a model over a level database adds once the experiment is resolved: absolute directories. */
export interface ModelFiles {
  /** Level database directory. */
  database: string;
  /** Model directory; must be the one the database was built from. */
  model: string;
  /** The database's identity when the run began (absent in runs stored before it was recorded): a run never goes on with another. */
  databaseSha256?: string;
}

/** What a worker needs to build a fitness: plain JSON, sent once per run to each worker. */
export type FitnessSpec =
  | ModuleFitnessSpec
  | CommandFitnessSpec
  | SyntheticFitnessSpec
  | LmFitnessSpec
  | ImageFitnessSpec
  | ClassifierFitnessSpec;

/** A loaded fitness in a worker. Values are raw: the engine applies `minimize`. */
export interface Fitness {
  evaluate(genome: Genome, fidelity: Fidelity): number | Promise<number>;
  close?(): void | Promise<void>;
  /** Fitnesses that run a model: metrics of configurations (null: the dense model) on data the search never saw. */
  measureHeldOut?(genomes: (Genome | null)[]): Promise<Record<string, number>[]>;
  /** Classifiers: pictures of the held-out set that `b` gets right where `a` is wrong (gained), and the reverse (lost). */
  pairedHeldOut?(a: Genome | null, b: Genome | null): Promise<{ gained: number; lost: number }>;
}

export interface FitnessContext {
  space: Space;
  seed: number;
  /** A fitness that starts processes reports each (running) and its end, so that a worker stopped mid-task (a timeout, Ctrl-C) leaves none behind. */
  onProcess?(pid: number, running: boolean): void;
}

/** The timeout a fitness of this kind gets by default (for runs stored before `timeout` existed). */
export function defaultTimeout(spec: Omit<FitnessSpec, 'timeout'>): number {
  return 'database' in spec ? DEFAULT_TIMEOUT.model : DEFAULT_TIMEOUT.fitness;
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

/** What a worker's process.exit throws (see pool/worker.ts): fitnesses let it through, unwrapped, so the run names the exit. */
export class ExitCalled extends Error {
  constructor(readonly code: number | string | null | undefined) {
    super(`called process.exit(${code ?? ''})`);
    this.name = 'ExitCalled';
  }
}
