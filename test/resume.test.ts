import { describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Rng } from '../src/rng/rng.js';
import { CLI, FIXTURES, after, afterNextStep, cli, exportOf, runWithKills, stepBeyond, tempDir, rowCount } from './cli-helpers.js';

const experiment = join(FIXTURES, 'slow-experiment.json');

/** The run's stored status, as `evosearch status --json` prints it. */
function statusOf(db: string, runId: string): { status: string; step: number } {
  const r = cli(['status', runId, '--db', db, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

/**
 * Resolves once `child` has committed its first checkpoint step in `db`: by then it has taken the
 * run's lock and installed its signal handlers, whatever the machine's start-up time. Fails the
 * test if the process exits first.
 */
async function firstStep(child: ChildProcess, db: string, runId: string): Promise<number> {
  const exited = new AbortController();
  const onExit = () => exited.abort();
  child.once('exit', onExit);
  if (child.exitCode !== null || child.signalCode !== null) exited.abort();
  try {
    return await stepBeyond(db, runId, 0, exited.signal);
  } catch {
    throw new Error(`run ${runId} exited (code ${child.exitCode}, signal ${child.signalCode}) before committing a step`);
  } finally {
    child.off('exit', onExit);
  }
}

describe('kill -9 and resume', () => {
  it('gives the uninterrupted result after 20+ SIGKILLs at random moments [slow]', { timeout: 600_000 }, async () => {
    const dir = tempDir();
    const reference = join(dir, 'reference.db');
    const ref = cli(['run', experiment, '--db', reference, '--run-id', 'r', '--json']);
    expect(ref.code, ref.stderr).toBe(0);
    const expected = exportOf(reference, 'r');

    const db = join(dir, 'killed.db');
    const rng = Rng.fromSeed('kill-moments');
    // Kills alternate between a random moment after the start (start-up, run creation or early
    // search, whatever the machine's speed) and a random moment after the run has committed one
    // more step (mid-step or mid-commit: a step takes about 10 ms on a quiet machine).
    let k = 0;
    const moment = (step: number) => (k++ % 2 === 0 ? after(100 + rng.next() * 500) : afterNextStep(db, 'r', step, rng.next() * 20));
    const outcome = await runWithKills(experiment, db, 'r', 20, moment);
    expect(outcome.finished).toBe(true);
    expect(outcome.kills).toBe(20);
    // Each of the 10 kills after a committed step found the run further on than the kill before.
    expect(new Set(outcome.stepsAtKill.filter((step) => step > 0)).size).toBeGreaterThanOrEqual(10);
    expect(exportOf(db, 'r')).toBe(expected);
    // No evaluation lost or counted twice: the cache holds exactly what the export counts.
    const evaluations = JSON.parse(expected).provenance.evaluations;
    expect(rowCount(db)).toBe(evaluations);
    expect(rowCount(reference)).toBe(evaluations);
  });

  it('gives the same result with 1 and with 2 workers, and after Ctrl-C and resume [slow]', { timeout: 300_000 }, async () => {
    const dir = tempDir();
    const one = join(dir, 'one.db');
    const two = join(dir, 'two.db');
    expect(cli(['run', experiment, '--db', one, '--run-id', 'w', '--workers', '1', '--json']).code).toBe(0);
    // The fixture must be long enough that a Ctrl-C after the first step lands mid-run.
    const steps = statusOf(one, 'w').step;
    expect(steps).toBeGreaterThanOrEqual(100);

    // The 2-worker run is interrupted with SIGINT once it has committed a step: it stops after
    // the step in flight, exit 0.
    const child = spawn(process.execPath, [CLI, 'run', experiment, '--db', two, '--run-id', 'w', '--workers', '2', '--json'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    const exited = new Promise((done) => child.on('exit', done));
    await firstStep(child, two, 'w');
    expect(child.kill('SIGINT')).toBe(true);
    expect(await exited).toBe(0);
    expect(JSON.parse(stdout).status).toBe('interrupted');
    const stopped = statusOf(two, 'w');
    expect(stopped.status).toBe('interrupted');
    expect(stopped.step).toBeGreaterThanOrEqual(1);
    expect(stopped.step).toBeLessThan(steps);

    expect(cli(['resume', 'w', '--db', two, '--json']).code).toBe(0);
    expect(exportOf(two, 'w')).toBe(exportOf(one, 'w'));
  });

  it('refuses a second coordinator on a running run', async () => {
    const dir = tempDir();
    const db = join(dir, 'lock.db');
    // Slow evaluations (same results) keep the first coordinator running while the second starts,
    // however slowly the machine starts it.
    const first = spawn(process.execPath, [CLI, 'run', experiment, '--db', db, '--run-id', 'l', '--json'], { stdio: 'ignore', env: { ...process.env, EVOSEARCH_TEST_EVAL_MS: '50' } });
    // Wait until the run holds its lock (a committed step comes after it; the run's row exists
    // before it), then try to resume it from a second process.
    await firstStep(first, db, 'l');
    const second = cli(['resume', 'l', '--db', db]);
    const firstStillRunning = first.exitCode === null && first.signalCode === null;
    first.kill('SIGKILL');
    expect(firstStillRunning).toBe(true);
    expect(second.code).not.toBe(0);
    expect(second.stderr).toMatch(/already being run by process \d+/);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
  });
});
