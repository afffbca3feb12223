import { Piscina } from 'piscina';
import { availableParallelism } from 'node:os';
import { genomeHash, type Genome, type Fidelity } from '../space/space.js';
import { describeFitness } from '../fitness/types.js';
import { sampleSplit, type SampleSplit } from '../fitness/samples.js';
import { UserError } from '../errors.js';
import { CandidateError, EvaluationInterrupted, candidateError, type Evaluator } from './evaluator.js';
import { LOADING, NOT_STARTED, type EvaluateTask, type ProcessNotice, type WorkerMemory, type WorkerResult, type WorkerSetup, type WorkerTask } from './protocol.js';

export const defaultWorkers = () => availableParallelism();

/** How long closing waits for workers to close their fitnesses. */
const CLOSE_MS = 10_000;

/** Caps each worker's JS heap (MiB), so that a fitness that allocates without bound fails fast with "ran out of memory". */
export const HEAP_ENV = 'EVOSEARCH_WORKER_HEAP_MB';

function heapLimitMb(): number | undefined {
  const raw = process.env[HEAP_ENV];
  if (raw === undefined || raw === '') return undefined;
  const mb = Number(raw);
  if (!Number.isInteger(mb) || mb < 1) throw new UserError(`${HEAP_ENV}: expected a positive whole number of MiB, got "${raw}"`);
  return mb;
}

/**
 * How many sample values the coordinator keeps (about 170 bytes each with its key: 33 MiB in all):
 * the last thousand generations of a search like experiments/lm/sparsegpt-60.json.
 */
const SAMPLE_VALUES = 200_000;

/** Values of (configuration hash, sample) pairs; the oldest entries go first once `capacity` is reached. */
class SampleValues {
  private readonly values = new Map<string, number>();

  constructor(private readonly capacity: number) {}

  get(configuration: string, sample: number): number | undefined {
    return this.values.get(`${configuration}|${sample}`);
  }

  set(configuration: string, sample: number, value: number): void {
    this.values.set(`${configuration}|${sample}`, value);
    if (this.values.size > this.capacity) this.values.delete(this.values.keys().next().value!);
  }
}

/** One evaluation request's chunks: the earliest candidate that failed so far. */
interface Batch {
  genomes: Genome[];
  /** When a request's candidates are split into their samples: which sample each entry scores. */
  samples?: number[];
  /** Where pieces start, when they must follow the samples (see evaluateSamples); otherwise pieces are of equal size. */
  pieceStarts?: number[];
  failure: CandidateError | null;
}

/** Consecutive candidates of a batch sent to a worker as one task; `retried`: those of them that have timed out once. */
interface Piece {
  start: number;
  end: number;
  retried: Set<number>;
}

/** One try of a chunk (or of its rest) on a worker. */
interface Attempt {
  batch: Batch;
  /** Index in the batch of the try's first genome. */
  first: number;
  progress: Int32Array;
  values: Float64Array;
  controller: AbortController;
  /** The progress value seen last by the watchdog, and since when. */
  seen: number;
  since: number;
  /** What the try was doing when the watchdog stopped it. */
  timedOutAt: number | null;
}

type Outcome =
  | { kind: 'scored'; values: number[] }
  /** `scored`: values of the first genomes, finished before it stopped; `at`: LOADING or the genome it was on (index into the try). */
  | { kind: 'timeout' | 'crashed' | 'failed' | 'stopped'; scored: number[]; at: number; message: string };

/**
 * The local evaluator: piscina worker threads, each holding one loaded fitness for the run.
 *
 * Every try of a chunk runs under a watchdog: an evaluation (or loading the fitness) that takes
 * longer than the fitness's `timeout` is aborted, which terminates and replaces its worker, and
 * is tried once more, first in a new task; a second time-out fails the run. A worker that dies
 * (process.exit, out of memory, an uncaught exception) fails the run naming the candidate it was
 * on. Processes a worker's fitness started die with the worker.
 */
export class WorkerPool implements Evaluator {
  private readonly pool: Piscina<WorkerTask, WorkerResult>;
  /** The largest memory figures each worker thread reported after a chunk. */
  readonly peakMemory = new Map<number, WorkerMemory>();
  private readonly timeoutMs: number;
  private readonly heapMb: number | undefined;
  private readonly attempts = new Set<Attempt>();
  private watchdog: NodeJS.Timeout | null = null;
  /** Processes that workers' fitnesses started and that still run, by worker thread. */
  private readonly processes = new Map<number, Set<number>>();
  private interrupted = false;

  /** How the fitness's value is made of samples, if it is. */
  private readonly samplesOf: SampleSplit | null;
  /** Sample values the workers returned, by configuration and sample (see evaluateSamples). */
  private readonly sampleValues = new SampleValues(SAMPLE_VALUES);
  /** How many single samples the workers have scored for this pool (whole evaluations not counted): what tests compare with the pairs asked for. */
  samplesScored = 0;

  constructor(private readonly setup: WorkerSetup, readonly threads: number) {
    this.timeoutMs = setup.fitness.timeout * 1000;
    this.samplesOf = sampleSplit(setup.fitness);
    this.heapMb = heapLimitMb();
    this.pool = new Piscina({
      filename: new URL('./worker.js', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 60_000,
      workerData: setup,
      resourceLimits: this.heapMb ? { maxOldGenerationSizeMb: this.heapMb } : undefined,
    });
    this.pool.on('message', (message: unknown) => {
      const notice = (message as Partial<ProcessNotice> | null)?.evosearchProcess;
      if (!notice) return;
      const pids = this.processes.get(notice.thread) ?? new Set<number>();
      if (notice.running) pids.add(notice.pid);
      else pids.delete(notice.pid);
      this.processes.set(notice.thread, pids);
    });
    // A worker that dies between tasks (a fitness's timer that throws) is replaced by piscina; the
    // next task it would have run goes to the new worker. Without a listener the event would end
    // the process.
    this.pool.on('error', () => undefined);
  }

  async evaluate(genomes: Genome[], fidelity: Fidelity, onChunk?: (offset: number, values: number[]) => void): Promise<number[]> {
    return this.samplesOf && this.threads > 1 ? this.evaluateSamples(genomes, fidelity, this.samplesOf, onChunk) : this.evaluateBatch({ genomes, failure: null }, fidelity, onChunk);
  }

  /**
   * With several threads, a fitness made of samples (a language model's windows) is scored sample
   * by sample, each sample an entry of its own, spread over the threads like candidates; each
   * candidate's sample values are combined in sample order, as the fitness's own evaluate does:
   * the values are the same numbers as unsplit. The coordinator keeps every sample value it gets
   * back (see {@link SampleValues}), so that no (configuration, sample) pair is scored twice
   * wherever it was scored first: a racing stage's survivors and the parent meet windows of
   * earlier stages again, and each worker's own cache only knows what that worker scored.
   *
   * Entries go sample by sample (every candidate's first sample, then every candidate's second, ...)
   * and, with at least two samples per thread, a piece is one sample of all the candidates that
   * need it: a worker's prefix reuse then serves siblings that share the window. A candidate
   * reaches `onChunk` once all its samples are in; a failure names the candidate.
   */
  private async evaluateSamples(genomes: Genome[], fidelity: Fidelity, split: SampleSplit, onChunk?: (offset: number, values: number[]) => void): Promise<number[]> {
    const windows = split.windows(fidelity);
    const keys = genomes.map((g) => genomeHash(g));
    const values = genomes.map(() => new Array<number>(windows.length));
    const left = genomes.map(() => windows.length);
    /** Entries to score: a sample and the candidates it is for (a configuration asked for twice is scored once; the first is sent). */
    const todo: { sample: number; cells: number[] }[] = [];
    /** Where each sample's entries start in `todo`. */
    const starts: number[] = [];
    windows.forEach((window, sample) => {
      const pending = new Map<string, number>();
      const first = todo.length;
      keys.forEach((key, candidate) => {
        const known = this.sampleValues.get(key, window);
        const entry = pending.get(key);
        if (known !== undefined) {
          values[candidate][sample] = known;
          left[candidate]--;
        } else if (entry !== undefined) todo[entry].cells.push(candidate);
        else {
          pending.set(key, todo.length);
          todo.push({ sample, cells: [candidate] });
        }
      });
      if (todo.length > first) starts.push(first);
    });
    left.forEach((n, candidate) => n === 0 && onChunk?.(candidate, [split.combine(values[candidate])]));
    const pieceStarts = windows.length >= 2 * this.threads ? starts : undefined;
    try {
      await this.evaluateBatch({ genomes: todo.map((t) => genomes[t.cells[0]]), samples: todo.map((t) => t.sample), pieceStarts, failure: null }, fidelity, (offset, chunk) => {
        chunk.forEach((v, i) => {
          const { sample, cells } = todo[offset + i];
          this.samplesScored++;
          this.sampleValues.set(keys[cells[0]], windows[sample], v);
          for (const candidate of cells) {
            values[candidate][sample] = v;
            if (--left[candidate] === 0) onChunk?.(candidate, [split.combine(values[candidate])]);
          }
        });
      });
    } catch (err) {
      if (!(err instanceof CandidateError) || err.index < 0) throw err;
      const candidate = todo[err.index].cells[0];
      throw candidateError(candidate, genomes[candidate], err.reason);
    }
    return values.map((v) => split.combine(v));
  }

  private async evaluateBatch(batch: Batch, fidelity: Fidelity, onChunk?: (offset: number, values: number[]) => void): Promise<number[]> {
    const { genomes } = batch;
    if (this.interrupted) throw new EvaluationInterrupted();
    // At least four pieces per thread keep threads busy when some candidates are slower than
    // others (rounding the size up would leave 10 candidates in 5 pieces of 2: 3 pieces on one of
    // two threads, 2 on the other).
    const size = Math.max(1, Math.floor(genomes.length / (this.threads * 4)));
    const starts = batch.pieceStarts ?? Array.from({ length: Math.ceil(genomes.length / size) }, (_, i) => i * size);
    const values = new Array<number>(genomes.length);
    const queue: Piece[] = starts.map((start, i) => ({ start, end: starts[i + 1] ?? genomes.length, retried: new Set() }));
    // Two runners per thread (one task running, one waiting, so that no worker waits for the
    // coordinator) each take the next piece when their last one ends; a retry goes first.
    const runner = async () => {
      for (let piece = queue.shift(); piece; piece = queue.shift()) {
        if (this.interrupted || (batch.failure && batch.failure.index < piece.start)) continue;
        const retry = await this.runPiece(batch, piece, fidelity, values, onChunk);
        if (retry) queue.unshift(retry);
      }
    };
    const settled = await Promise.allSettled(Array.from({ length: Math.min(this.threads * 2, queue.length) }, runner));
    if (this.interrupted) throw new EvaluationInterrupted();
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
    if (batch.failure) throw batch.failure;
    return values;
  }

  /**
   * Scores genomes[piece.start, piece.end) into `values` in one task, and hands what it scored to
   * `onChunk` once. After a first time-out it returns the rest of the piece, from the candidate
   * that timed out, so that this one is retried once, first in its task, in a new worker.
   */
  private async runPiece(batch: Batch, piece: Piece, fidelity: Fidelity, values: number[], onChunk?: (offset: number, values: number[]) => void): Promise<Piece | null> {
    const { start, end, retried } = piece;
    const outcome = await this.attempt(batch, start, end, fidelity);
    const scored = outcome.kind === 'scored' ? outcome.values : outcome.scored;
    scored.forEach((v, i) => (values[start + i] = v));
    if (scored.length > 0) onChunk?.(start, scored);
    if (outcome.kind === 'scored' || outcome.kind === 'stopped') return null;
    const index = outcome.at === LOADING ? -1 : start + outcome.at;
    if (outcome.kind === 'timeout' && !retried.has(index)) {
      retried.add(index);
      return { start: start + scored.length, end, retried };
    }
    const message = outcome.kind === 'timeout' ? `timed out twice${index < 0 ? ' while loading' : ''}: exceeded the timeout of ${this.setup.fitness.timeout} s (fitness.timeout)` : outcome.message;
    this.fail(batch, index, outcome.kind === 'failed' && index < 0 ? message : `${describeFitness(this.setup.fitness)} ${message}`);
    return null;
  }

  /**
   * Keeps the earliest failing candidate (a failure to load comes first), so the message does not
   * depend on timing. Tries of later candidates already running are left to finish (what they
   * score is stored, and a resume finds it) rather than terminated: a worker thread terminated in
   * the middle of an onnxruntime inference can abort the whole coordinator. No new try starts.
   */
  private fail(batch: Batch, index: number, message: string): void {
    if (batch.failure && batch.failure.index <= index) return;
    batch.failure = index < 0 ? new CandidateError(-1, message) : candidateError(index, batch.genomes[index], message);
  }

  private async attempt(batch: Batch, first: number, end: number, fidelity: Fidelity): Promise<Outcome> {
    const genomes = batch.genomes.slice(first, end);
    const task: EvaluateTask = { genomes, fidelity, samples: batch.samples?.slice(first, end), progress: new SharedArrayBuffer(8), values: new SharedArrayBuffer(8 * genomes.length) };
    const a: Attempt = {
      batch,
      first,
      progress: new Int32Array(task.progress),
      values: new Float64Array(task.values),
      controller: new AbortController(),
      seen: NOT_STARTED,
      since: Date.now(),
      timedOutAt: null,
    };
    this.attempts.add(a);
    this.watch();
    let result: WorkerResult;
    try {
      result = await this.pool.run(task, { signal: a.controller.signal });
    } catch (err) {
      // The worker is gone (terminated by an abort, or dead): so must be the processes it started.
      this.killProcesses(Atomics.load(a.progress, 1));
      // Progress is final: genomes before the one it was on have their values.
      const on = a.timedOutAt ?? Atomics.load(a.progress, 0);
      const at = on > 0 ? on - 1 : LOADING;
      const scored = Array.from(a.values.subarray(0, Math.max(0, at)));
      if (this.interrupted) return { kind: 'stopped', scored, at, message: '' };
      if (a.timedOutAt !== null) return { kind: 'timeout', scored, at, message: '' };
      return { kind: 'crashed', scored, at, message: `crashed${at === LOADING ? ' while loading' : ''}: ${this.describeCrash(err)}` };
    } finally {
      this.attempts.delete(a);
    }
    if ('closed' in result) throw new Error('bug: an evaluation task came back closed');
    if ('failed' in result) {
      const at = result.failed.index < 0 ? LOADING : result.failed.index;
      return { kind: 'failed', scored: Array.from(a.values.subarray(0, Math.max(0, at))), at, message: result.failed.message };
    }
    this.notePeak(result.thread, result.memory);
    return { kind: 'scored', values: result.values };
  }

  /** Checks the tries in flight against the timeout: each evaluation's clock starts when its worker reaches it. */
  private watch(): void {
    if (this.watchdog) return;
    const period = Math.min(1000, Math.max(50, this.timeoutMs / 8));
    this.watchdog = setInterval(() => {
      const now = Date.now();
      for (const a of this.attempts) {
        const on = Atomics.load(a.progress, 0);
        if (on !== a.seen) {
          a.seen = on;
          a.since = now;
        } else if (on !== NOT_STARTED && a.timedOutAt === null && now - a.since >= this.timeoutMs) {
          a.timedOutAt = on;
          a.controller.abort();
        }
      }
      if (this.attempts.size === 0) {
        clearInterval(this.watchdog!);
        this.watchdog = null;
      }
    }, period);
  }

  private describeCrash(err: unknown): string {
    const e = err as (Error & { code?: string }) | undefined;
    if (e?.code === 'ERR_WORKER_OUT_OF_MEMORY') return `worker ran out of memory${this.heapMb ? ` (heap limit ${this.heapMb} MiB, ${HEAP_ENV})` : ''}`;
    const message = String(e?.message ?? err).split('\n')[0];
    const exit = /^worker exited with code: (-?\d+)/.exec(message);
    if (exit) return `worker exited with code ${exit[1]}`;
    return `uncaught ${e?.name ?? 'error'}: ${message}`;
  }

  /** Ends the processes that the fitness of one worker thread (or of all) started and that still run. */
  killProcesses(thread?: number): void {
    for (const [t, pids] of this.processes) {
      if (thread !== undefined && t !== thread) continue;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      this.processes.delete(t);
    }
  }

  interrupt(): void {
    this.interrupted = true;
    for (const a of this.attempts) a.controller.abort();
  }

  private notePeak(thread: number, m: WorkerMemory): void {
    const seen = this.peakMemory.get(thread);
    this.peakMemory.set(thread, seen ? { heapUsed: Math.max(seen.heapUsed, m.heapUsed), external: Math.max(seen.external, m.external), arrayBuffers: Math.max(seen.arrayBuffers, m.arrayBuffers) } : m);
  }

  /**
   * Closes every worker's fitness (releasing sessions, ending command processes), then the
   * threads. A worker still busy past a few seconds (a fitness that never returns) is not waited
   * for: destroying the pool terminates it, and processes its fitness started are ended.
   */
  async close(): Promise<void> {
    const close = { barrier: new SharedArrayBuffer(4), workers: this.threads, waitMs: CLOSE_MS };
    const closed = Promise.all(Array.from({ length: this.threads }, () => this.pool.run({ close })));
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<void>((done) => (timer = setTimeout(done, CLOSE_MS)));
    await Promise.race([closed.catch(() => undefined), giveUp]);
    clearTimeout(timer);
    await this.pool.destroy();
    this.killProcesses();
  }
}
