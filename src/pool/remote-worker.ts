import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { fitnessFiles } from '../fitness/identity.js';
import type { FitnessSpec } from '../fitness/types.js';
import { CandidateError } from './evaluator.js';
import { WorkerPool } from './pool.js';
import { openRedis, showRedis } from './redis.js';
import { DEFAULT_LOCK_SECONDS, MAX_STALLS, encodeFailure, relocate, setupKey, type EvaluationJob, type RemoteSetup } from './remote-protocol.js';

export interface RemoteWorkerOptions {
  url: string;
  queue: string;
  /** Jobs evaluated at once, each in its own worker thread. */
  concurrency: number;
  /** `cpu`, or `cuda:N`: model fitnesses run on that GPU (one worker process per GPU). */
  device?: string;
  /** Fitness modules this worker may load (absolute paths, as the job names them after `dataRoot`). */
  allowModules: string[];
  /** Fitness commands this worker may start, argv for argv. */
  allowCommands: string[][];
  /** Where this machine keeps the files that lie under the coordinator's working directory. */
  dataRoot?: string;
  log(line: string): void;
}

/** Fitnesses built into evosearch: they read a model, a level database or nothing, and run no code a job names. */
const BUILT_IN = new Set<FitnessSpec['type']>(['synthetic', 'flops', 'distill', 'train', 'kl', 'kl-topk', 'ppl', 'psnr', 'accuracy']);

/** How often a worker looks for jobs whose worker died (their lock expired). */
const STALLED_CHECK_MS = 5_000;
/** Setups (runs) a worker keeps loaded at once. */
const LOADED_SETUPS = 2;

/** A run's setup as this worker holds it: its fitness loaded in a local pool, or why the worker refuses its jobs. */
type Loaded = { pool: WorkerPool; setup: RemoteSetup; busy: number; retired: boolean } | { refused: string };

/** Splits `--allow-command`: a JSON array of strings, or words separated by spaces. */
export function parseCommand(text: string): string[] {
  if (text.trim().startsWith('[')) {
    let argv: unknown;
    try {
      argv = JSON.parse(text);
    } catch {
      throw new Error('expected a JSON array of strings');
    }
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === 'string')) throw new Error('expected a JSON array of strings');
    return argv as string[];
  }
  const words = text.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) throw new Error('expected a command');
  return words;
}

/**
 * Why this worker will not run a setup's fitness, or null. A worker never runs code or a command
 * that a job names unless it was started to allow exactly that module or argv.
 */
export function refusal(spec: FitnessSpec, allowModules: string[], allowCommands: string[][]): string | null {
  if (spec.type === 'module') {
    return allowModules.map((p) => resolve(p)).includes(resolve(spec.path)) ? null : `fitness module ${spec.path} is not allowed on this worker (start it with --allow-module ${spec.path})`;
  }
  if (spec.type === 'command') {
    const argv = JSON.stringify(spec.command);
    return allowCommands.some((c) => JSON.stringify(c) === argv) ? null : `fitness command ${argv} is not allowed on this worker (start it with --allow-command '${argv}')`;
  }
  return BUILT_IN.has(spec.type) ? null : `fitness type ${JSON.stringify((spec as { type: unknown }).type)} is not one evosearch has`;
}

/**
 * `evosearch worker`: takes evaluation jobs from a BullMQ queue and evaluates them with the same
 * fitness code as the local pool (a piscina pool per run, `concurrency` threads). The main thread
 * only talks to Redis, so job locks are renewed while a long evaluation runs. Each run's setup
 * is checked once: its fitness must be allowed here and its files must hash as the coordinator's.
 */
export class RemoteWorker {
  private readonly loaded = new Map<string, Promise<Loaded>>();
  private readonly name = `${hostname()}/${process.pid}`;
  private readonly worker: Worker<EvaluationJob, number[]>;

  private constructor(
    private readonly opts: RemoteWorkerOptions,
    private readonly redis: Redis,
  ) {
    this.worker = new Worker<EvaluationJob, number[]>(opts.queue, (job, token) => this.process(job, token), {
      connection: redis,
      concurrency: opts.concurrency,
      // Each job's lock lasts its run's lock time, renewed here (see process), not BullMQ's default.
      skipLockRenewal: true,
      lockDuration: DEFAULT_LOCK_SECONDS * 1000,
      stalledInterval: STALLED_CHECK_MS,
      maxStalledCount: MAX_STALLS,
      name: this.name,
    });
    // While Redis is down every retry fails alike: each different error is logged once.
    let lastError = '';
    this.worker.on('error', (err) => {
      const line = err.message.split('\n')[0];
      if (line !== lastError) opts.log(`worker: ${line}`);
      lastError = line;
    });
    this.worker.on('completed', () => (lastError = ''));
    this.worker.on('stalled', (id) => opts.log(`job ${id}: its worker stopped renewing the lock (it died, or lost Redis); back in the queue`));
  }

  static start(opts: RemoteWorkerOptions): RemoteWorker {
    if (opts.device?.startsWith('cuda:')) process.env.CUDA_VISIBLE_DEVICES = opts.device.slice('cuda:'.length);
    let wasUp = false;
    const redis = openRedis(opts.url, {
      onUp: () => {
        opts.log(`${wasUp ? 'reconnected to' : 'connected to'} ${showRedis(opts.url)}, queue "${opts.queue}"`);
        wasUp = true;
      },
      onDown: (reason) => opts.log(`lost Redis at ${showRedis(opts.url)} (${reason}); reconnecting`),
    });
    return new RemoteWorker(opts, redis);
  }

  private async process(job: Job<EvaluationJob, number[]>, token: string | undefined): Promise<number[]> {
    // The lock is renewed from the start: checking a run's files (hashing a large database) can
    // take longer than a lock. Until the run's own lock time is known, the default one.
    let lockMs = DEFAULT_LOCK_SECONDS * 1000;
    let timer: NodeJS.Timeout | undefined;
    const renew = () => {
      if (token) void job.extendLock(token, lockMs).catch(() => undefined);
      timer = setTimeout(renew, lockMs / 2);
    };
    timer = setTimeout(renew, lockMs / 2);
    let entry: Loaded | undefined;
    try {
      entry = await this.setupOf(job.data.setup);
      if ('refused' in entry) {
        this.opts.log(`refused job ${job.id} of run "${job.name}": ${entry.refused}`);
        throw new UnrecoverableError(encodeFailure({ index: -1, message: `worker ${this.name} refused a job of run "${job.name}": ${entry.refused}` }));
      }
      lockMs = entry.setup.lockMs;
      clearTimeout(timer);
      renew();
      entry.busy++;
      return await entry.pool.evaluate(job.data.genomes, job.data.fidelity);
    } catch (err) {
      if (!(err instanceof CandidateError)) throw err;
      throw new UnrecoverableError(encodeFailure({ index: err.index, message: `${err.index < 0 ? err.message : err.reason} (on worker ${this.name})` }));
    } finally {
      clearTimeout(timer);
      if (entry && 'pool' in entry) {
        entry.busy--;
        if (entry.retired && entry.busy === 0) void entry.pool.close();
      }
    }
  }

  /** The run's setup, read from Redis and checked once; beyond LOADED_SETUPS the least recently used is closed once idle. */
  private setupOf(digest: string): Promise<Loaded> {
    const entry = this.loaded.get(digest) ?? this.load(digest);
    this.loaded.delete(digest);
    this.loaded.set(digest, entry);
    if (this.loaded.size > LOADED_SETUPS) {
      const [oldest, old] = this.loaded.entries().next().value!;
      this.loaded.delete(oldest);
      void old.then((o) => {
        if (!('pool' in o)) return;
        o.retired = true;
        if (o.busy === 0) void o.pool.close();
      });
    }
    return entry;
  }

  private async load(digest: string): Promise<Loaded> {
    const text = await this.redis.get(setupKey(this.opts.queue, digest));
    if (text === null) return { refused: `its run's setup ${digest} is not in Redis (expired, or the queue was flushed); resume the run` };
    const setup = relocate(JSON.parse(text) as RemoteSetup, this.opts.dataRoot);
    const notAllowed = refusal(setup.fitness, this.opts.allowModules, this.opts.allowCommands);
    if (notAllowed) return { refused: notAllowed };
    let files;
    try {
      files = await fitnessFiles(setup.fitness, setup.space, { checkLayerFiles: true });
    } catch (err) {
      return { refused: `cannot read the run's files here: ${(err as Error).message.split('\n')[0]}${this.opts.dataRoot ? '' : ' (files are looked for at the coordinator\'s paths; --data-root maps them)'}` };
    }
    for (const [i, theirs] of setup.files.entries()) {
      const mine = files[i];
      if (!mine || mine.sha256 !== theirs.sha256) {
        return { refused: `${theirs.what} ${mine?.path ?? theirs.path} differs from the coordinator's (hash ${mine?.sha256.slice(0, 12) ?? 'none'}… here, ${theirs.sha256.slice(0, 12)}… there)` };
      }
    }
    const fitness = this.opts.device && 'device' in setup.fitness ? { ...setup.fitness, device: this.opts.device.startsWith('cuda') ? ('cuda' as const) : ('cpu' as const) } : setup.fitness;
    this.opts.log(`run "${setup.run}": ${setup.fitness.type} fitness loaded for ${this.opts.concurrency} thread(s)`);
    return { pool: new WorkerPool({ fitness, space: setup.space, seed: setup.seed }, this.opts.concurrency), setup, busy: 0, retired: false };
  }

  /** Finishes the jobs in hand, then closes every loaded fitness and the connection. */
  async close(): Promise<void> {
    await this.worker.close();
    for (const entry of this.loaded.values()) {
      const o = await entry;
      if ('pool' in o) await o.pool.close();
    }
    this.redis.disconnect();
  }
}
