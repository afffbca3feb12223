import type { Genome, Fidelity } from '../space/space.js';

/** A candidate whose fitness failed (threw, NaN, not a number): the run stops with this message. */
export class CandidateError extends Error {
  constructor(readonly index: number, message: string) {
    super(message);
    this.name = 'CandidateError';
  }
}

/**
 * Scores genomes at a fidelity. Values come back in candidate order whatever order the work
 * finishes in. `onChunk` sees each finished chunk (offset into `genomes`, values) as it lands, so
 * that the coordinator can store costly evaluations before the whole batch is done. The local
 * worker pool implements it; a remote queue can too.
 */
export interface Evaluator {
  readonly threads: number;
  evaluate(genomes: Genome[], fidelity: Fidelity, onChunk?: (offset: number, values: number[]) => void): Promise<number[]>;
  close(): Promise<void>;
}
