import { continueRun, type RunOutcome } from '../engine/engine.js';
import type { Experiment } from '../engine/experiment.js';
import type { Store } from '../store/store.js';
import { WorkerPool } from '../pool/pool.js';
import { EvaluationInterrupted, type Evaluator } from '../pool/evaluator.js';
import { RemoteEvaluator } from '../pool/remote.js';
import { DEFAULT_LOCK_SECONDS } from '../pool/remote-protocol.js';
import { fitnessFiles } from '../fitness/identity.js';
import type { Reporter } from './progress.js';

/** Where a run's evaluations go: worker threads here, or jobs on a Redis queue that `evosearch worker` processes take. */
export type Executor = { workers: number } | { redis: string; queue: string; waitSeconds: number };

/** The evaluator an executor names, for one run. */
async function openEvaluator(runId: string, experiment: Experiment, executor: Executor): Promise<Evaluator> {
  const { fitness, space, seed } = experiment;
  if ('workers' in executor) return new WorkerPool({ fitness, space, seed }, executor.workers);
  const files = await fitnessFiles(fitness, space, { checkLayerFiles: false });
  const lockMs = (experiment.remote?.lockSeconds ?? DEFAULT_LOCK_SECONDS) * 1000;
  return RemoteEvaluator.open(
    { fitness, space, seed, run: runId, files, root: process.cwd(), lockMs },
    { url: executor.redis, queue: executor.queue, waitMs: executor.waitSeconds * 1000, log: (line) => process.stderr.write(`${line}\n`) },
  );
}

/** After the first Ctrl-C, how long the step in flight may take before it is abandoned (resume replays it). */
const GRACE_MS = 5_000;

/**
 * Runs (or resumes) a stored run with a local worker pool or remote workers until it finishes or
 * is interrupted. The caller has taken the run's lock; this releases it with a status that
 * records how it ended.
 */
export async function executeRun(store: Store, runId: string, experiment: Experiment, executor: Executor, reporter: Reporter): Promise<RunOutcome> {
  let pool: Evaluator | null = null;
  let stopRequested = false;
  let grace: NodeJS.Timeout | undefined;
  const onSignal = () => {
    if (stopRequested) {
      // A second Ctrl-C: stop now, the last checkpoint stands.
      if (pool instanceof WorkerPool) pool.killProcesses();
      process.exit(130);
    }
    stopRequested = true;
    process.stderr.write(`\nstopping after this step, or in ${GRACE_MS / 1000} s at most (Ctrl-C again to stop at once)\n`);
    // A step that does not end in time (a hung or busy worker) is abandoned: the workers in it are
    // terminated, and its evaluations stored so far come back from the cache on resume.
    grace = setTimeout(() => pool?.interrupt(), GRACE_MS);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    pool = await openEvaluator(runId, experiment, executor);
    let outcome: RunOutcome;
    try {
      outcome = await continueRun(store, runId, experiment, pool, {
        onProgress: (p) => reporter.update(p),
        shouldStop: () => stopRequested,
      });
    } catch (err) {
      if (!(err instanceof EvaluationInterrupted)) throw err;
      outcome = { status: 'interrupted', checkpoint: store.getCheckpoint(runId) };
    }
    store.releaseLock(runId, outcome.status);
    return outcome;
  } catch (err) {
    store.releaseLock(runId, 'failed', (err as Error).message);
    throw err;
  } finally {
    clearTimeout(grace);
    reporter.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await pool?.close();
  }
}
