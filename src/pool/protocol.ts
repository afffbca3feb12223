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

/** `index` -1 means the fitness itself failed to load. */
export type WorkerResult = { values: number[] } | { failed: { index: number; message: string } };
