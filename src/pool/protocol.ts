import type { Genome, Space } from '../space/space.js';
import type { Fidelity } from '../strategies/types.js';
import type { FitnessSpec } from '../fitness/types.js';

/** Sent once per pool as workerData: every worker loads this fitness on its first task. */
export interface WorkerSetup {
  fitness: FitnessSpec;
  space: Space;
  seed: number;
}

export interface WorkerTask {
  genomes: Genome[];
  fidelity: Fidelity;
}

/** A worker's memory (bytes) when it finished a chunk: its own heap, and what it holds outside (tensors, buffers). */
export interface WorkerMemory {
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** `index` -1 means the fitness itself failed to load. */
export type WorkerResult = { values: number[]; thread: number; memory: WorkerMemory } | { failed: { index: number; message: string } };
