import { threadId, workerData } from 'node:worker_threads';
import { loadFitness } from '../fitness/load.js';
import type { Fitness } from '../fitness/types.js';
import type { WorkerResult, WorkerSetup, WorkerTask } from './protocol.js';

const setup = workerData as WorkerSetup;
let fitness: Promise<Fitness> | null = null;

/** Piscina task: evaluate a chunk of genomes in order. The fitness is loaded once per worker. */
export default async function evaluateChunk(task: WorkerTask): Promise<WorkerResult> {
  fitness ??= loadFitness(setup.fitness, { space: setup.space, seed: setup.seed });
  let loaded: Fitness;
  try {
    loaded = await fitness;
  } catch (err) {
    return { failed: { index: -1, message: (err as Error).message } };
  }
  const values: number[] = [];
  for (let i = 0; i < task.genomes.length; i++) {
    let value: unknown;
    try {
      value = await loaded.evaluate(task.genomes[i], task.fidelity);
    } catch (err) {
      return { failed: { index: i, message: (err as Error)?.message ?? String(err) } };
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      const shown = typeof value === 'number' ? String(value) : JSON.stringify(value) ?? String(value);
      return { failed: { index: i, message: `returned ${shown}, expected a finite number` } };
    }
    values.push(value);
  }
  const { heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { values, thread: threadId, memory: { heapUsed, external, arrayBuffers } };
}
