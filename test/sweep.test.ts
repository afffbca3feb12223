import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../src/rng/rng.js';
import { Store } from '../src/store/store.js';
import { SpaceIndex } from '../src/space/space.js';
import { loadExperimentOfRun } from '../src/export/result.js';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { after, cli, expectOneLineError, runWithKills, tempDir, withoutTimestamps, type KillMoment } from './cli-helpers.js';

const BUDGETS = [0.3, 0.45, 0.6, 0.75];

function experiment(dir: string, sweep: unknown = BUDGETS, generations = 120): string {
  const file = join(dir, 'sweep.json');
  writeFileSync(
    file,
    JSON.stringify({
      name: 'sweep',
      seed: 4,
      space: { synthetic: { family: 'unequalCost', units: 40, levels: 6, seed: 4, budgetFraction: 0.5 } },
      strategy: { type: 'evopress', generations, offspring: 8 },
      fitness: { type: 'synthetic', seed: 4, interactions: { pairs: 20, strength: 0.5 } },
      workers: 1,
      sweep,
    }),
  );
  return file;
}

/** The steps the sweep's runs have committed together, read from the database file (0 before the first). */
function sweepStep(db: string): number {
  try {
    const conn = new Database(db, { readonly: true, fileMustExist: true });
    try {
      return (conn.prepare("SELECT coalesce(sum(step), 0) AS n FROM checkpoints WHERE run_id LIKE 's@%'").get() as { n: number }).n;
    } finally {
      conn.close();
    }
  } catch {
    return 0; // not created yet
  }
}

const afterSweepStep =
  (db: string, stepBefore: number, extraMs: number): KillMoment =>
  async (signal) => {
    while (sweepStep(db) <= stepBefore) await sleep(25, undefined, { signal });
    await sleep(extraMs, undefined, { signal });
  };

const exports = (db: string) => BUDGETS.map((b) => withoutTimestamps(cli(['export', `s@${b}`, '--db', db]).stdout));

describe('budget sweeps', () => {
  it('run one search per budget, each from the previous best, and give the size–fitness front', () => {
    const dir = tempDir();
    const db = join(dir, 'runs.db');
    const r = cli(['run', experiment(dir, BUDGETS, 40), '--db', db, '--run-id', 's', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const { status, front } = JSON.parse(r.stdout) as { status: string; front: { budget: number; runId: string; cost: number; fitness: number }[] };
    expect(status).toBe('finished');
    expect(front.map((f) => f.runId)).toEqual(BUDGETS.map((b) => `s@${b}`));
    const store = Store.open(db, { mustExist: true });
    try {
      const spaces = BUDGETS.map((b) => loadExperimentOfRun(store, `s@${b}`).space);
      spaces.forEach((space, i) => expect(front[i].cost).toBeLessThanOrEqual(space.budget.total));
      expect(spaces[0].start).toBeUndefined(); // the first budget starts from the uniform configuration
      // Every later one from the previous best, repaired into its own budget.
      for (const space of spaces.slice(1)) expect(new SpaceIndex(space).isFeasible(space.start!)).toBe(true);
    } finally {
      store.close();
    }
    // More budget, a better configuration: each search starts where the last one ended, filled up.
    for (let i = 1; i < front.length; i++) {
      expect(front[i].cost).toBeGreaterThan(front[i - 1].cost);
      expect(front[i].fitness).toBeLessThan(front[i - 1].fitness);
    }
    const status1 = JSON.parse(cli(['status', 's', '--db', db, '--json']).stdout) as { status: string; runs: unknown[] };
    expect(status1.status).toBe('finished');
    expect(status1.runs).toHaveLength(4);
    const report = join(dir, 'sweep.html');
    expect(cli(['report', 's', '--db', db, '--out', report]).code).toBe(0);
    expect(readFileSync(report, 'utf8')).toMatch(/Size against fitness/);
  });

  it('survives kill -9 and resumes to the identical per-budget exports [slow]', { timeout: 600_000 }, async () => {
    const dir = tempDir();
    const file = experiment(dir);
    const reference = join(dir, 'reference.db');
    expect(cli(['run', file, '--db', reference, '--run-id', 's', '--json']).code).toBe(0);
    const db = join(dir, 'killed.db');
    const rng = Rng.fromSeed('sweep-kills');
    // Kills alternate between a random moment after the start and a random moment after the sweep
    // (any of its runs) has committed one more step, so that they land inside searches and between them.
    let k = 0;
    const moment = (step: number): KillMoment => (k++ % 2 === 0 ? after(200 + rng.next() * 1500) : afterSweepStep(db, step, rng.next() * 600));
    const { kills, stepsAtKill, finished } = await runWithKills(file, db, 's', 6, moment);
    expect(finished).toBe(true);
    expect(kills).toBe(6);
    // The kills landed at different points of the sweep, not all before its first step.
    expect(new Set(stepsAtKill.filter((s) => s > 0)).size).toBeGreaterThanOrEqual(3);
    expect(exports(db)).toEqual(exports(reference));
  });

  it('refuses a budget the space cannot read, in one line naming it', () => {
    const dir = tempDir();
    expectOneLineError(cli(['run', experiment(dir, [0.3, 1.5]), '--db', join(dir, 'x.db')]), /sweep\.json: sweep\[1\]: expected a budget fraction in \[0, 1\] \(as budgetFraction\), got 1\.5/);
    expectOneLineError(cli(['run', experiment(dir, [0.3]), '--db', join(dir, 'x.db')]), /sweep\.json: sweep: expected at least two budgets/);
    expectOneLineError(cli(['run', experiment(dir), '--db', join(dir, 'x.db'), '--out', join(dir, 'best.json')]), /--out: a sweep has one configuration per budget/);
  });
});
