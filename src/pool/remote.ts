import { Queue, QueueEvents, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { genomeHash, type Fidelity, type Genome } from '../space/space.js';
import { UserError } from '../errors.js';
import { CandidateError, EvaluationInterrupted, candidateError, type Evaluator } from './evaluator.js';
import { openRedis, showRedis, untilReady } from './redis.js';
import { MAX_STALLS, decodeFailure, isJobFailure, jobId, setupDigest, setupKey, type EvaluationJob, type RemoteSetup } from './remote-protocol.js';

export interface RemoteOptions {
  url: string;
  queue: string;
  /** How long Redis may be unreachable (at start or mid-run) before the run stops, resumable. */
  waitMs: number;
  /** One line for the person running the search (stderr). */
  log(line: string): void;
}

type JobRequest = Parameters<Queue<EvaluationJob, number[]>['addBulk']>[0][number];

/** A job's genomes at most: a fast fitness needs big jobs (one round trip per job), a slow one needs several per worker. */
const MAX_JOB = 256;
/** Jobs per connected worker in one request: enough that a worker that finishes early finds more. */
const JOBS_PER_WORKER = 2;
/** Without any result for this long and no worker connected, the coordinator says so. */
const IDLE_NOTICE_MS = 10_000;
/** A setup in Redis outlives any pause between two steps of a run. */
const SETUP_TTL_S = 7 * 24 * 3600;
/** Completed jobs stay this long, so that a coordinator resumed after a kill collects what workers finished meanwhile. */
const KEEP_COMPLETED_S = 24 * 3600;

/**
 * The remote evaluator: evaluations go as BullMQ jobs to `evosearch worker` processes anywhere,
 * through Redis. Each request is split into jobs of consecutive candidates; their values come
 * back into candidate order whatever worker answered and when. Jobs are named by their content
 * ({@link jobId}), so a job delivered twice, or sent again by a resumed coordinator, is one job.
 * A worker that dies mid-job loses its lock; after the run's lock time another worker takes the
 * job. Redis unreachable for longer than `waitMs` stops the run with a message; it can be resumed.
 */
export class RemoteEvaluator implements Evaluator {
  private interrupted = false;
  private closing = false;
  /** Rejects the request in flight: an interrupt, or Redis down for too long. */
  private abort: ((err: Error) => void) | null = null;
  private downTimer: NodeJS.Timeout | null = null;
  private downError: UserError | null = null;
  /** The jobs of the request in flight that have not come back, by id: sent again when Redis comes back (it may have lost them). */
  private readonly pending = new Map<string, JobRequest>();

  private constructor(
    private readonly opts: RemoteOptions,
    private readonly setup: RemoteSetup,
    private readonly digest: string,
    private readonly connections: Redis[],
    private readonly queue: Queue<EvaluationJob, number[]>,
    private readonly events: QueueEvents,
  ) {}

  static async open(setup: RemoteSetup, opts: RemoteOptions): Promise<RemoteEvaluator> {
    const shown = showRedis(opts.url);
    let self: RemoteEvaluator | null = null;
    const onDown = (reason: string) => self?.down(reason);
    const onUp = () => self?.up();
    const main = openRedis(opts.url, { onDown, onUp });
    const blocking = openRedis(opts.url, { onDown, onUp });
    for (const reason of await Promise.all([main, blocking].map((c) => untilReady(c, opts.waitMs)))) {
      if (reason !== null) {
        main.disconnect();
        blocking.disconnect();
        throw new UserError(`--redis ${shown}: ${/^(no answer|ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN)$/.test(reason) ? `Redis did not answer within ${opts.waitMs / 1000} s` : 'Redis refused the connection'} (${reason}); start it, or check the URL, password and certificate (NODE_EXTRA_CA_CERTS)`);
      }
    }
    const queue = new Queue<EvaluationJob, number[]>(opts.queue, { connection: main });
    const events = new QueueEvents(opts.queue, { connection: blocking });
    // One waiter per job in flight listens on these. Connection errors are the watchdog's to report (see down).
    queue.setMaxListeners(0);
    events.setMaxListeners(0);
    queue.on('error', () => undefined);
    events.on('error', () => undefined);
    await events.waitUntilReady();
    const digest = setupDigest(setup);
    await main.set(setupKey(opts.queue, digest), JSON.stringify(setup), 'EX', SETUP_TTL_S);
    self = new RemoteEvaluator(opts, setup, digest, [main, blocking], queue, events);
    return self;
  }

  async evaluate(genomes: Genome[], fidelity: Fidelity, onChunk?: (offset: number, values: number[]) => void): Promise<number[]> {
    if (this.interrupted) throw new EvaluationInterrupted();
    if (this.downError) throw this.downError;
    if (genomes.length === 0) return [];
    const stopped = new Promise<never>((_, reject) => (this.abort = reject));
    stopped.catch(() => undefined);
    let idle: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([stopped, this.send(genomes, fidelity, onChunk, (timer) => (idle = timer))]);
    } finally {
      this.abort = null;
      clearInterval(idle);
    }
  }

  private async send(genomes: Genome[], fidelity: Fidelity, onChunk: ((offset: number, values: number[]) => void) | undefined, setIdle: (t: NodeJS.Timeout) => void): Promise<number[]> {
    const [main] = this.connections;
    await main.expire(setupKey(this.opts.queue, this.digest), SETUP_TTL_S);
    const workers = await this.queue.getWorkersCount();
    const size = Math.min(MAX_JOB, Math.max(1, Math.ceil(genomes.length / (JOBS_PER_WORKER * Math.max(1, workers)))));
    const starts = Array.from({ length: Math.ceil(genomes.length / size) }, (_, k) => k * size);
    const requests: JobRequest[] = starts.map((start) => {
      const chunk = genomes.slice(start, start + size);
      return {
        name: this.setup.run,
        data: { setup: this.digest, fidelity, genomes: chunk },
        opts: { jobId: jobId(this.digest, fidelity, chunk.map(genomeHash)), removeOnComplete: { age: KEEP_COMPLETED_S }, removeOnFail: true, attempts: 1 },
      };
    });
    const jobs = await this.queue.addBulk(requests);
    const values = new Array<number>(genomes.length);
    let lastResult = Date.now();
    let noticed = false;
    setIdle(
      setInterval(() => {
        if (noticed || Date.now() - lastResult < IDLE_NOTICE_MS) return;
        void this.queue.getWorkersCount().then((n) => {
          if (n > 0 || noticed) return;
          noticed = true;
          this.opts.log(`waiting: no evosearch worker takes jobs from queue "${this.opts.queue}" on ${showRedis(this.opts.url)}; start one with: evosearch worker --redis <url>${this.opts.queue === 'evosearch' ? '' : ` --queue ${this.opts.queue}`}`);
        }, () => undefined);
      }, 1000),
    );
    const failures: CandidateError[] = [];
    await Promise.all(
      jobs.map(async (job: Job<EvaluationJob, number[]>, k) => {
        const start = starts[k];
        const chunk = genomes.slice(start, start + size);
        this.pending.set(job.id!, requests[k]);
        try {
          const raw = await this.finished(job);
          const scored = (typeof raw === 'string' ? JSON.parse(raw) : raw) as unknown;
          if (!Array.isArray(scored) || scored.length !== chunk.length || !scored.every((v) => typeof v === 'number' && Number.isFinite(v))) {
            throw new Error(JSON.stringify({ index: -1, message: `a remote worker answered job ${job.id} with ${JSON.stringify(scored)?.slice(0, 80)}, expected ${chunk.length} finite numbers` }));
          }
          scored.forEach((v, i) => (values[start + i] = v));
          lastResult = Date.now();
          onChunk?.(start, scored);
        } catch (err) {
          const { index, message: reason } = decodeFailure((err as Error).message);
          const message = /stalled more than allowable limit/.test(reason) ? `job ${job.id}: ${MAX_STALLS + 1} workers took it and each died or lost Redis before finishing it (the fitness may be what kills them; see the workers' logs)` : reason;
          failures.push(index < 0 ? new CandidateError(-1, message) : candidateError(start + index, genomes[start + index], message));
        } finally {
          this.pending.delete(job.id!);
        }
      }),
    );
    // The earliest failing candidate names the failure, as the local pool does.
    if (failures.length > 0) throw failures.sort((a, b) => a.index - b.index)[0];
    return values;
  }

  /**
   * The job's value once a worker has finished it. A job that failed throws its reason; a
   * connection lost while waiting is waited out (the down watchdog bounds how long).
   */
  private async finished(job: Job<EvaluationJob, number[]>): Promise<unknown> {
    for (;;) {
      try {
        return await job.waitUntilFinished(this.events);
      } catch (err) {
        if (this.interrupted || this.downError || isJobFailure((err as Error).message)) throw err;
        while (this.connections.some((c) => c.status !== 'ready') && !this.interrupted && !this.downError) await sleep(100);
      }
    }
  }

  private down(reason: string): void {
    if (this.downTimer || this.interrupted || this.closing) return;
    this.opts.log(`Redis at ${showRedis(this.opts.url)} went down (${reason}); waiting up to ${this.opts.waitMs / 1000} s for it to come back`);
    this.downTimer = setTimeout(() => {
      this.downError = new UserError(`--redis ${showRedis(this.opts.url)}: Redis stayed unreachable for ${this.opts.waitMs / 1000} s (${reason}); the run stopped at its last checkpoint and can be resumed with --redis`);
      this.abort?.(this.downError);
    }, this.opts.waitMs);
  }

  /**
   * Redis is back within the wait. A Redis restarted without persistence has lost the setup and
   * the jobs in flight: both are sent again. Jobs it kept are the same ids, so sending them again
   * changes nothing; the waiters still listen for their ids.
   */
  private up(): void {
    if (!this.downTimer) return;
    clearTimeout(this.downTimer);
    this.downTimer = null;
    this.opts.log(`Redis at ${showRedis(this.opts.url)} is back`);
    const [main] = this.connections;
    void main
      .set(setupKey(this.opts.queue, this.digest), JSON.stringify(this.setup), 'EX', SETUP_TTL_S)
      .then(() => this.queue.addBulk([...this.pending.values()]))
      .catch(() => undefined); // down again: the watchdog has it
  }

  interrupt(): void {
    this.interrupted = true;
    this.abort?.(new EvaluationInterrupted());
  }

  /** Takes back the jobs no worker has started (a stopped run's), then disconnects. Never waits long on a dead Redis. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.downTimer) clearTimeout(this.downTimer);
    const tidy = async () => {
      if (!this.downError) for (const id of this.pending.keys()) await this.queue.remove(id).catch(() => undefined);
      await Promise.all([this.events.close(), this.queue.close()]);
    };
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([tidy().catch(() => undefined), new Promise((done) => (timer = setTimeout(done, 2000)))]);
    clearTimeout(timer);
    for (const c of this.connections) c.disconnect();
  }
}
