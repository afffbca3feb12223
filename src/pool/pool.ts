import { Piscina } from 'piscina';
import { availableParallelism } from 'node:os';
import type { Genome, Fidelity } from '../space/space.js';
import { describeFitness } from '../fitness/types.js';
import { CandidateError, type Evaluator } from './evaluator.js';
import type { WorkerMemory, WorkerResult, WorkerSetup, WorkerTask } from './protocol.js';

export const defaultWorkers = () => availableParallelism();

/** How long closing waits for workers to close their fitnesses. */
const CLOSE_MS = 10_000;

/** The local evaluator: piscina worker threads, each holding one loaded fitness for the run. */
export class WorkerPool implements Evaluator {
  private readonly pool: Piscina<WorkerTask, WorkerResult>;
  /** The largest memory figures each worker thread reported after a chunk. */
  readonly peakMemory = new Map<number, WorkerMemory>();

  constructor(private readonly setup: WorkerSetup, readonly threads: number) {
    this.pool = new Piscina({
      filename: new URL('./worker.js', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 60_000,
      workerData: setup,
    });
  }

  async evaluate(genomes: Genome[], fidelity: Fidelity, onChunk?: (offset: number, values: number[]) => void): Promise<number[]> {
    // Several chunks per thread keep threads busy when some candidates are slower than others.
    const size = Math.max(1, Math.ceil(genomes.length / (this.threads * 4)));
    const values = new Array<number>(genomes.length);
    let failure: CandidateError | null = null;
    const chunks: Promise<void>[] = [];
    for (let offset = 0; offset < genomes.length; offset += size) {
      const slice = genomes.slice(offset, offset + size);
      chunks.push(
        this.pool.run({ genomes: slice, fidelity }).then((result) => {
          if ('closed' in result) throw new Error('bug: an evaluation task came back closed');
          if ('failed' in result) {
            if (result.failed.index < 0) {
              failure ??= new CandidateError(-1, result.failed.message);
              return;
            }
            const index = offset + result.failed.index;
            // Report the earliest failing candidate, so the message does not depend on timing.
            if (!failure || (failure.index >= 0 && index < failure.index)) failure = this.candidateError(index, genomes[index], result.failed.message);
            return;
          }
          result.values.forEach((v, i) => (values[offset + i] = v));
          this.notePeak(result.thread, result.memory);
          onChunk?.(offset, result.values);
        }),
      );
    }
    await Promise.all(chunks);
    if (failure) throw failure;
    return values;
  }

  private notePeak(thread: number, m: WorkerMemory): void {
    const seen = this.peakMemory.get(thread);
    this.peakMemory.set(thread, seen ? { heapUsed: Math.max(seen.heapUsed, m.heapUsed), external: Math.max(seen.external, m.external), arrayBuffers: Math.max(seen.arrayBuffers, m.arrayBuffers) } : m);
  }

  private candidateError(index: number, genome: Genome, message: string): CandidateError {
    const shown = genome.length > 12 ? `[${genome.slice(0, 12).join(',')},…]` : `[${genome.join(',')}]`;
    return new CandidateError(index, `${describeFitness(this.setup.fitness)} ${message} (candidate ${index}, genome ${shown})`);
  }

  /**
   * Closes every worker's fitness (releasing sessions, ending command processes), then the
   * threads. A worker still busy past a few seconds (a fitness that never returns) is not waited
   * for: destroying the pool terminates it.
   */
  async close(): Promise<void> {
    const close = { barrier: new SharedArrayBuffer(4), workers: this.threads, waitMs: CLOSE_MS };
    const closed = Promise.all(Array.from({ length: this.threads }, () => this.pool.run({ close })));
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<void>((done) => (timer = setTimeout(done, CLOSE_MS)));
    await Promise.race([closed.catch(() => undefined), giveUp]);
    clearTimeout(timer);
    await this.pool.destroy();
  }
}
