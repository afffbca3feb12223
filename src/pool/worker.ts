import { parentPort, threadId, workerData } from 'node:worker_threads';
import { loadFitness } from '../fitness/load.js';
import { ExitCalled, type Fitness } from '../fitness/types.js';
import { LOADING, type CloseTask, type EvaluateTask, type ProcessNotice, type WorkerResult, type WorkerSetup, type WorkerTask } from './protocol.js';

const setup = workerData as WorkerSetup;
let fitness: Promise<Fitness> | null = null;

/**
 * A fitness that calls process.exit, or throws from a callback of its own, ends its evaluation,
 * not the thread: a thread torn down with native sessions still open (onnxruntime) can abort the
 * whole coordinator. The evaluation fails with the exit code or the exception instead, and the
 * pool's close releases the sessions before the threads end.
 */
process.exit = ((code?: number | string | null) => {
  throw new ExitCalled(code);
}) as typeof process.exit;

/** Fails the evaluation in flight with an exception nothing caught; one caught between evaluations fails the next. */
let failEvaluation: ((err: unknown) => void) | null = null;
let uncaughtBetween: unknown = null;
process.on('uncaughtException', (err) => {
  if (failEvaluation) failEvaluation(err);
  else uncaughtBetween ??= err;
});

class Uncaught extends Error {}

/** The fitness's value (of one sample, when `sample` is given), or the exception its own callbacks threw while it was being computed. */
function evaluateGuarded(loaded: Fitness, genome: number[], fidelity: EvaluateTask['fidelity'], sample?: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const fail = (err: unknown) => reject(new Uncaught(`uncaught ${(err as Error)?.name ?? 'error'}: ${String((err as Error)?.message ?? err).split('\n')[0]}`));
    if (uncaughtBetween) {
      const err = uncaughtBetween;
      uncaughtBetween = null;
      return fail(err);
    }
    failEvaluation = fail;
    Promise.resolve()
      .then(() => (sample === undefined ? loaded.evaluate(genome, fidelity) : loaded.evaluateSample!(genome, fidelity, sample)))
      .then(resolve, reject)
      .finally(() => (failEvaluation = null));
  });
}

const onProcess = (pid: number, running: boolean) => parentPort?.postMessage({ evosearchProcess: { thread: threadId, pid, running } } satisfies ProcessNotice);

/**
 * Piscina task: evaluate a chunk of genomes in order (the fitness is loaded once per worker), or
 * close the fitness. Progress and each value go to the task's shared buffers as they happen.
 */
export default async function runTask(task: WorkerTask): Promise<WorkerResult> {
  if ('close' in task) return closeFitness(task.close);
  const progress = new Int32Array(task.progress);
  const scored = new Float64Array(task.values);
  Atomics.store(progress, 1, threadId);
  Atomics.store(progress, 0, LOADING);
  fitness ??= loadFitness(setup.fitness, { space: setup.space, seed: setup.seed, onProcess });
  let loaded: Fitness;
  try {
    loaded = await fitness;
  } catch (err) {
    return { failed: { index: -1, message: (err as Error).message } };
  }
  const values: number[] = [];
  for (let i = 0; i < task.genomes.length; i++) {
    Atomics.store(progress, 0, i + 1);
    let value: unknown;
    try {
      value = await evaluateGuarded(loaded, task.genomes[i], task.fidelity, task.samples?.[i]);
    } catch (err) {
      if (err instanceof ExitCalled || err instanceof Uncaught) return { failed: { index: i, message: `crashed: ${err.message}` } };
      return { failed: { index: i, message: (err as Error)?.message ?? String(err) } };
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      const shown = typeof value === 'number' ? String(value) : JSON.stringify(value) ?? String(value);
      return { failed: { index: i, message: `returned ${shown}, expected a finite number` } };
    }
    scored[i] = value;
    values.push(value);
  }
  const { heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { values, thread: threadId, memory: { heapUsed, external, arrayBuffers } };
}

async function closeFitness({ barrier, workers, waitMs }: CloseTask['close']): Promise<WorkerResult> {
  const loaded = fitness;
  fitness = null;
  try {
    await (await loaded)?.close?.();
  } catch {
    // A fitness that failed to load or fails to close has nothing more to release.
  }
  const arrived = new Int32Array(barrier);
  Atomics.add(arrived, 0, 1);
  Atomics.notify(arrived, 0);
  const deadline = Date.now() + waitMs;
  // Blocking is fine: this worker has nothing else to do until the pool ends.
  for (let seen = Atomics.load(arrived, 0); seen < workers && Date.now() < deadline; seen = Atomics.load(arrived, 0)) {
    Atomics.wait(arrived, 0, seen, Math.max(1, deadline - Date.now()));
  }
  return { closed: true };
}
