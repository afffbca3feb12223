import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { Rng } from '../src/rng/rng.js';
import { CLI, FIXTURES, after, cli, runWithKills, tempDir, withoutTimestamps } from './cli-helpers.js';

const experiment = join(FIXTURES, 'slow-experiment.json');

function exportOf(db: string, runId: string): string {
  const r = cli(['export', runId, '--db', db]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return withoutTimestamps(r.stdout);
}

function rowCount(db: string): number {
  const conn = new Database(db, { readonly: true });
  try {
    return (conn.prepare('SELECT count(*) AS n FROM evaluations').get() as { n: number }).n;
  } finally {
    conn.close();
  }
}

describe('kill -9 and resume', () => {
  it('gives the uninterrupted result after 20+ SIGKILLs at random moments', { timeout: 300_000 }, async () => {
    const dir = tempDir();
    const reference = join(dir, 'reference.db');
    const ref = cli(['run', experiment, '--db', reference, '--run-id', 'r', '--json']);
    expect(ref.code, ref.stderr).toBe(0);
    const expected = exportOf(reference, 'r');

    const db = join(dir, 'killed.db');
    const rng = Rng.fromSeed('kill-moments');
    // Early kills land in start-up and run creation; later ones mid-step, mid-commit.
    const outcome = await runWithKills(experiment, db, 'r', 20, () => after(100 + rng.next() * 500));
    expect(outcome.finished).toBe(true);
    expect(outcome.kills).toBeGreaterThanOrEqual(20);
    expect(exportOf(db, 'r')).toBe(expected);
    // No evaluation lost or counted twice: the cache holds exactly what the export counts.
    const evaluations = JSON.parse(expected).provenance.evaluations;
    expect(rowCount(db)).toBe(evaluations);
    expect(rowCount(reference)).toBe(evaluations);
  });

  it('gives the same result with 1 and with 2 workers, and after Ctrl-C and resume', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const one = join(dir, 'one.db');
    const two = join(dir, 'two.db');
    expect(cli(['run', experiment, '--db', one, '--run-id', 'w', '--workers', '1', '--json']).code).toBe(0);

    // The 2-worker run is interrupted with SIGINT: it stops after the step in flight, exit 0.
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [CLI, 'run', experiment, '--db', two, '--run-id', 'w', '--workers', '2', '--json'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    setTimeout(() => child.kill('SIGINT'), 1500);
    const code = await new Promise((done) => child.on('exit', done));
    expect(code).toBe(0);
    expect(JSON.parse(stdout).status).toBe('interrupted');
    expect(JSON.parse(cli(['status', 'w', '--db', two, '--json']).stdout).status).toBe('interrupted');

    expect(cli(['resume', 'w', '--db', two, '--json']).code).toBe(0);
    expect(exportOf(two, 'w')).toBe(exportOf(one, 'w'));
  });

  it('refuses a second coordinator on a running run', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const db = join(dir, 'lock.db');
    const { spawn } = await import('node:child_process');
    const first = spawn(process.execPath, [CLI, 'run', experiment, '--db', db, '--run-id', 'l', '--json'], { stdio: 'ignore' });
    // Wait until the run exists, then try to resume it from a second process.
    for (let i = 0; i < 100 && cli(['status', 'l', '--db', db, '--json']).code !== 0; i++) await new Promise((r) => setTimeout(r, 50));
    const second = cli(['resume', 'l', '--db', db]);
    first.kill('SIGKILL');
    expect(second.code).not.toBe(0);
    expect(second.stderr).toMatch(/already being run by process \d+/);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
  });
});
