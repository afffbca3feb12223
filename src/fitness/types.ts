import { z } from 'zod';
import type { Genome, Space, Fidelity } from '../space/space.js';
import { positiveInt } from '../validation.js';
import type { LmFitnessSpec } from './lm.js';
import type { ImageFitnessSpec } from './image.js';
import type { ClassifierFitnessSpec } from './classifier.js';
import type { ModuleFitnessSpec } from './module.js';
import type { CommandFitnessSpec } from './command.js';
import type { SyntheticFitnessSpec } from './synthetic.js';
import type { FlopsFitnessSpec } from './flops.js';
import type { DistillFitnessSpec } from './distill.js';
import type { TrainFitnessSpec } from './train.js';

/** Default `timeout`, in seconds: module, command and synthetic fitnesses; model fitnesses (which load a model and a level database first). */
export const DEFAULT_TIMEOUT = { fitness: 600, model: 3600 };

/** Seconds one evaluation may take (and loading the fitness in a worker); past it the worker is replaced and the evaluation retried once. */
const timeout = (seconds: number) => z.number().positive().default(seconds);

/**
 * Calibration slices reserved for re-scoring the best configurations at the end of a run; the
 * search never reads them. Validation slice k (0-based) is fidelity slice `slices + k`, and reads
 * data that no search slice reads at any budget. Runs stored before it have 0: they never validated.
 */
export const validationSlices = z.number().int().min(0).default(4);

/** Settings every fitness has. */
export const fitnessCommon = {
  minimize: z.boolean().default(true),
  /** How many distinct calibration slices the fitness offers to the search; strategies pick among them (indices 0..slices-1). */
  slices: positiveInt.default(1),
  validationSlices,
  timeout: timeout(DEFAULT_TIMEOUT.fitness),
};

/** What every fitness that runs a model over a level database has. */
export const modelFitness = {
  validationSlices,
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
  | FlopsFitnessSpec
  | DistillFitnessSpec
  | TrainFitnessSpec
  | LmFitnessSpec
  | ImageFitnessSpec
  | ClassifierFitnessSpec;

/** A loaded fitness in a worker. Values are raw: the engine applies `minimize`. */
export interface Fitness {
  evaluate(genome: Genome, fidelity: Fidelity): number | Promise<number>;
  /** Fitnesses whose value is made of samples (see sampleSplit): the value of the fidelity's `sample`-th sample alone. */
  evaluateSample?(genome: Genome, fidelity: Fidelity, sample: number): Promise<number>;
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

/** Whether a fitness's fidelity budget counts training steps (architecture fitnesses) rather than calibration data. */
export function budgetIsTrainingSteps(spec: Pick<FitnessSpec, 'type'>): boolean {
  return spec.type === 'distill' || spec.type === 'train';
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
    case 'flops':
      return 'flops fitness';
    case 'distill':
      return 'distill fitness';
    case 'train':
      return 'train fitness';
    default:
      return `${spec.type} fitness on ${spec.backend}`;
  }
}

/**
 * Where a fitness's calibration samples lie. Search slices (0..slices-1) read from the first
 * `searchPool` samples, as they always have; validation slices (slices..slices+validationSlices-1)
 * read from a region of perBudget·validationSlices samples that begins at `validationStart`, which
 * no search slice reaches.
 */
export interface SampleLayout {
  /** Samples per unit of fidelity budget: one slice at budget 1. */
  perBudget: number;
  slices: number;
  validationSlices: number;
  /** How many samples search slices wrap within, from sample 0 (default perBudget·slices). */
  searchPool?: number;
  /** The first sample of the validation region (default `searchPool`). */
  validationStart?: number;
}

/** Refuses a fidelity whose slice is neither a search nor a validation slice: a strategy or a validation step got it wrong. */
export function checkSlice({ slice }: Fidelity, slices: number, validationSlices: number): void {
  if (!Number.isInteger(slice) || slice < 0 || slice >= slices + validationSlices) {
    throw new Error(`bug: fidelity slice ${slice} is outside the ${slices} search slice(s) and ${validationSlices} validation slice(s)`);
  }
}

/**
 * The calibration samples (indices into the pool) that a fidelity reads: ⌈budget·perBudget⌉
 * consecutive samples. A search slice s starts at s·perBudget and wraps within the first
 * `searchPool` samples; validation slice k (fidelity slice slices + k) starts at k·perBudget of
 * the validation region and wraps within it. Racing stages with larger budgets read more of the
 * same text or images, and a (budget, slice) always reads the same samples, which keeps resume
 * exact. A search fidelity that would read validation samples throws.
 */
export function samplesFor(fidelity: Fidelity, layout: SampleLayout): number[] {
  const { perBudget, slices, validationSlices } = layout;
  checkSlice(fidelity, slices, validationSlices);
  const searchPool = layout.searchPool ?? perBudget * slices;
  const validationStart = layout.validationStart ?? searchPool;
  const region = perBudget * validationSlices;
  const n = Math.max(1, Math.ceil(fidelity.budget * perBudget - 1e-9));
  if (fidelity.slice >= slices) {
    const k = fidelity.slice - slices;
    return Array.from({ length: n }, (_, i) => validationStart + ((k * perBudget + i) % region));
  }
  const indices = Array.from({ length: n }, (_, i) => (fidelity.slice * perBudget + i) % searchPool);
  const reserved = indices.find((i) => i >= validationStart && i < validationStart + region);
  if (reserved !== undefined) {
    throw new Error(`fidelity budget ${fidelity.budget} on search slice ${fidelity.slice} reads sample ${reserved}, which is reserved for validation (samples ${validationStart}..${validationStart + region - 1})`);
  }
  return indices;
}

/** What a worker's process.exit throws (see pool/worker.ts): fitnesses let it through, unwrapped, so the run names the exit. */
export class ExitCalled extends Error {
  constructor(readonly code: number | string | null | undefined) {
    super(`called process.exit(${code ?? ''})`);
    this.name = 'ExitCalled';
  }
}
