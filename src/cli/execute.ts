import { continueRun, type RunOutcome } from '../engine/engine.js';
import type { Experiment } from '../engine/experiment.js';
import type { Store } from '../store/store.js';
import { WorkerPool } from '../pool/pool.js';
import type { Reporter } from './progress.js';

/**
 * Runs (or resumes) a stored run with a local worker pool until it finishes or is interrupted.
 * The caller has taken the run's lock; this releases it with a status that records how it ended.
 */
export async function executeRun(store: Store, runId: string, experiment: Experiment, workers: number, reporter: Reporter): Promise<RunOutcome> {
  let stopRequested = false;
  const onSignal = () => {
    if (stopRequested) process.exit(130); // a second Ctrl-C: stop now, the last checkpoint stands
    stopRequested = true;
    process.stderr.write('\nstopping after this step (Ctrl-C again to stop at once)\n');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const pool = new WorkerPool({ fitness: experiment.fitness, space: experiment.space, seed: experiment.seed }, workers);
  try {
    const outcome = await continueRun(store, runId, experiment, pool, {
      onProgress: (p) => reporter.update(p),
      shouldStop: () => stopRequested,
    });
    store.releaseLock(runId, outcome.status);
    return outcome;
  } catch (err) {
    store.releaseLock(runId, 'failed', (err as Error).message);
    throw err;
  } finally {
    reporter.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await pool.close();
  }
}
