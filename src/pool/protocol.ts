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
}

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

/** `index` -1 means the fitness itself failed to load. */
export type WorkerResult = { values: number[]; thread: number; memory: WorkerMemory } | { failed: { index: number; message: string } } | { closed: true };
