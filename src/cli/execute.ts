import { continueRun, type RunOutcome } from '../engine/engine.js';
import type { Experiment } from '../engine/experiment.js';
import type { Store } from '../store/store.js';
import { WorkerPool } from '../pool/pool.js';
import { EvaluationInterrupted } from '../pool/evaluator.js';
import type { Reporter } from './progress.js';

/** After the first Ctrl-C, how long the step in flight may take before it is abandoned (resume replays it). */
const GRACE_MS = 5_000;

/**
 * Runs (or resumes) a stored run with a local worker pool until it finishes or is interrupted.
 * The caller has taken the run's lock; this releases it with a status that records how it ended.
 */
export async function executeRun(store: Store, runId: string, experiment: Experiment, workers: number, reporter: Reporter): Promise<RunOutcome> {
  let pool: WorkerPool | null = null;
  let stopRequested = false;
  let grace: NodeJS.Timeout | undefined;
  const onSignal = () => {
    if (stopRequested) {
      // A second Ctrl-C: stop now, the last checkpoint stands.
      pool?.killProcesses();
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
    pool = new WorkerPool({ fitness: experiment.fitness, space: experiment.space, seed: experiment.seed }, workers);
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
