import type { Store } from '../store/store.js';
import { Rng } from '../rng/rng.js';
import { SpaceIndex } from '../space/space.js';
import { UserError } from '../errors.js';
import type { Experiment } from './experiment.js';
import { createRun } from './engine.js';

/** A sweep's run for one budget: `<sweep>@<budget>`, the budget written so that it stays one word. */
export const sweepRunId = (sweepId: string, value: number | string) => `${sweepId}@${String(value).replace(/[^A-Za-z0-9_.-]+/g, '_')}`;

/** Stores a sweep (an experiment with `sweep`) before its first run. */
export function createSweep(store: Store, sweepId: string, experiment: Experiment): void {
  if (!experiment.sweep) throw new Error('bug: a sweep without budgets');
  store.createSweep({ id: sweepId, name: experiment.name, experiment: JSON.stringify(experiment) });
}

export function loadSweep(store: Store, sweepId: string): Experiment & { sweep: NonNullable<Experiment['sweep']> } {
  const row = store.getSweep(sweepId);
  if (!row) throw new UserError(`${store.file}: no sweep "${sweepId}"`);
  return JSON.parse(row.experiment) as never;
}

/**
 * The run of budget `index`, created when absent: the experiment at that budget, starting from
 * the previous budget's best repaired into this budget (seeded, so the same in every session).
 * The previous budget's run must have finished: a sweep's runs go in order.
 */
export function sweepRun(store: Store, sweepId: string, index: number): string {
  const sweep = loadSweep(store, sweepId);
  const { value, space } = sweep.sweep[index];
  const runId = sweepRunId(sweepId, value);
  if (store.getRun(runId)) return runId;
  let start: number[] | undefined;
  if (index > 0) {
    const previous = store.getCheckpoint(sweepRunId(sweepId, sweep.sweep[index - 1].value));
    if (!previous.bestGenome) throw new Error(`bug: sweep ${sweepId} reached budget ${value} before the previous one found anything`);
    const genome = [...previous.bestGenome];
    if (new SpaceIndex(space).repair(genome, Rng.fromSeed(`sweep:${sweep.seed}:${index}`), true)) start = genome;
  }
  const { sweep: _points, ...experiment } = sweep;
  createRun(store, runId, { ...experiment, name: `${sweep.name}@${value}`, space: { ...space, ...(start && { start }) } });
  return runId;
}
