import type { Genome, Fidelity } from '../space/space.js';

/**
 * A candidate whose fitness failed (threw, NaN, not a number, timed out twice, killed its worker):
 * the run stops with this message. `reason` is the message without the candidate it names, for
 * an evaluator that sends it on (a remote worker's job holds other indices than the run's request).
 */
export class CandidateError extends Error {
  constructor(readonly index: number, message: string, readonly reason = message) {
    super(message);
    this.name = 'CandidateError';
  }
}

/** The failure of candidate `index` of a request, naming it and its genome. */
export function candidateError(index: number, genome: Genome, reason: string): CandidateError {
  const shown = genome.length > 12 ? `[${genome.slice(0, 12).join(',')},…]` : `[${genome.join(',')}]`;
  return new CandidateError(index, `${reason} (candidate ${index}, genome ${shown})`, reason);
}

/** The evaluations in flight were abandoned (Ctrl-C): nothing was lost that a resume cannot replay. */
export class EvaluationInterrupted extends Error {
  constructor() {
    super('evaluation interrupted');
    this.name = 'EvaluationInterrupted';
  }
}

/**
 * Scores genomes at a fidelity. Values come back in candidate order whatever order the work
 * finishes in. `onChunk` sees each finished chunk (offset into `genomes`, values) as it lands, so
 * that the coordinator can store costly evaluations before the whole batch is done. The local
 * worker pool implements it; a remote queue can too.
 */
export interface Evaluator {
  evaluate(genomes: Genome[], fidelity: Fidelity, onChunk?: (offset: number, values: number[]) => void): Promise<number[]>;
  /** Abandons the evaluations in flight, hung or not: `evaluate` rejects with EvaluationInterrupted, now and from then on. */
  interrupt(): void;
  close(): Promise<void>;
}
