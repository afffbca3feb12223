import type { Genome, Space, Fidelity } from '../space/space.js';
import type { FitnessSpec } from '../fitness/types.js';

/** Sent once per pool as workerData: every worker loads this fitness on its first task. */
export interface WorkerSetup {
  fitness: FitnessSpec;
  space: Space;
  seed: number;
}

export interface EvaluateTask {
  genomes: Genome[];
  fidelity: Fidelity;
  /** When set, genomes[i] is scored on its fidelity's samples[i]-th sample alone (Fitness.evaluateSample). */
  samples?: number[];
  /**
   * Int32Array written by the worker as it goes: [0] what it is doing (NOT_STARTED, LOADING the
   * fitness, or i + 1 while it evaluates genomes[i]), [1] its threadId. The pool's watchdog reads
   * it to time out one evaluation, and to name the candidate a worker died on.
   */
  progress: SharedArrayBuffer;
  /** Float64Array: values[i] written once genomes[i] is scored, so that what a worker stopped mid-chunk scored is kept. */
  values: SharedArrayBuffer;
}

export const NOT_STARTED = 0;
export const LOADING = -1;

/**
 * Sent once per worker when the pool closes: each worker closes its fitness, then waits at the
 * barrier (an Int32 counter) until every worker has arrived, or `waitMs` has passed, so that no
 * worker takes two of them.
 */
export interface CloseTask {
  close: { barrier: SharedArrayBuffer; workers: number; waitMs: number };
}

export type WorkerTask = EvaluateTask | CloseTask;

/** A worker's memory (bytes) when it finished a chunk: its own heap, and what it holds outside (tensors, buffers). */
export interface WorkerMemory {
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/**
 * Posted on the worker's parentPort (beside piscina's task channel): a process that the worker's
 * fitness started (running) or saw end. A worker terminated mid-task cannot end its processes;
 * the pool does.
 */
export interface ProcessNotice {
  evosearchProcess: { thread: number; pid: number; running: boolean };
}

/** `index` -1 means the fitness itself failed to load. */
export type WorkerResult = { values: number[]; thread: number; memory: WorkerMemory } | { failed: { index: number; message: string } } | { closed: true };
