import { expect } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');
export const FIXTURES = join(ROOT, 'test', 'fixtures');

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'evosearch-test-'));
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI to completion (`as`: another user's ids, for file permissions that root ignores). */
export function cli(args: string[], env: Record<string, string> = {}, as: { uid: number; gid: number } | {} = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, ...as });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A user-facing failure: exactly one `evosearch: error:` line, the last, matching `pattern`; non-zero exit; no stack trace. */
export function expectOneLineError(r: CliResult, pattern: RegExp): void {
  expect(r.code).not.toBe(0);
  expect(r.code).not.toBeNull();
  // Progress lines may come first; the error itself is exactly one line, and the last.
  const lines = r.stderr.trim().split('\n');
  const errors = lines.filter((l) => l.startsWith('evosearch: error: '));
  expect(errors, r.stderr).toHaveLength(1);
  expect(lines[lines.length - 1]).toBe(errors[0]);
  expect(errors[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace without --debug
}

/**
 * Who to run the CLI as so that a file's permissions hold: root writes to read-only files, so under
 * root (CI containers) the CLI runs as `nobody`, which then needs to reach the files it uses.
 */
export function unprivileged(): { uid: number; gid: number } | {} {
  return process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
}

/** When to kill a CLI process: resolves at the moment; `signal` aborts once the process has exited on its own. */
export type KillMoment = (signal: AbortSignal) => Promise<void>;

/** Starts the CLI and SIGKILLs it at `moment` (if still running); resolves with its exit. */
export function cliKilledAt(args: string[], moment: KillMoment, env: Record<string, string> = {}): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: 'ignore', env: { ...process.env, ...env } });
    const exited = new AbortController();
    let killed = false;
    moment(exited.signal).then(
      () => {
        if (child.exitCode === null && child.signalCode === null) killed = child.kill('SIGKILL');
      },
      () => {}, // aborted: the process exited first
    );
    child.on('exit', (code) => {
      exited.abort();
      done({ killed: killed && code === null, code });
    });
  });
}

/** A kill `ms` after the start. */
export const after =
  (ms: number): KillMoment =>
  (signal) =>
    sleep(ms, undefined, { signal });

/** No kill: the process runs until it exits on its own (the test's timeout bounds it). */
export const never: KillMoment = (signal) =>
  new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));

/**
 * A kill `extraMs` after the run has committed a step beyond `stepBefore`: it lands inside the
 * search whatever the machine's start-up time, never before the process has made progress.
 */
export const afterNextStep =
  (db: string, runId: string, stepBefore: number, extraMs: number): KillMoment =>
  async (signal) => {
    await stepBeyond(db, runId, stepBefore, signal);
    await sleep(extraMs, undefined, { signal });
  };

/**
 * Resolves with the run's committed step once it is beyond `stepBefore`. No deadline of its own:
 * a busy machine only makes it wait longer, and the test's timeout bounds it; `signal` (the
 * process's exit) ends the wait early, rejecting.
 */
export async function stepBeyond(db: string, runId: string, stepBefore: number, signal?: AbortSignal): Promise<number> {
  for (;;) {
    const step = committedStep(db, runId);
    if (step > stepBefore) return step;
    await sleep(25, undefined, { signal });
  }
}

/** The run's last committed checkpoint step, read from the database file (0 before the first). */
function committedStep(db: string, runId: string): number {
  try {
    const conn = new Database(db, { readonly: true, fileMustExist: true });
    try {
      return (conn.prepare('SELECT step FROM checkpoints WHERE run_id = ?').get(runId) as { step: number } | undefined)?.step ?? 0;
    } finally {
      conn.close();
    }
  } catch {
    return 0; // not created yet, or its schema not yet written
  }
}

/** A run's JSON export, which must succeed silently, without its timestamps: what must match byte for byte between runs. */
export function exportOf(db: string, runId: string): string {
  const r = cli(['export', runId, '--db', db]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return withoutTimestamps(r.stdout);
}

/** An export with its timestamps removed: what must match byte for byte between runs. */
export function withoutTimestamps(exported: string): string {
  return exported.replace(/"createdAt": "[^"]*"/g, '"createdAt": "<time>"');
}

/**
 * Runs `experiment` as run `runId` in `db`, SIGKILLing it `kills` times at `moment(step)` each
 * (`step`: the checkpoint step it resumes from; resuming after each kill), then lets it finish.
 * Returns the checkpoint step found after each kill (0 when the kill came before the first
 * committed step) and whether it finished cleanly.
 */
export async function runWithKills(experiment: string, db: string, runId: string, kills: number, moment: (step: number) => KillMoment): Promise<{ kills: number; stepsAtKill: number[]; finished: boolean }> {
  let killed = 0;
  const stepsAtKill: number[] = [];
  for (let attempt = 0; attempt < 5 * kills + 20; attempt++) {
    const status = cli(['status', runId, '--db', db, '--json']);
    const started = status.code === 0;
    const step = started ? (JSON.parse(status.stdout).step as number) : 0;
    if (killed > 0) stepsAtKill.push(step);
    const args = started ? ['resume', runId, '--db', db, '--json'] : ['run', experiment, '--db', db, '--run-id', runId, '--json'];
    // The last run must finish however slow the machine: a deadline here would kill it once too often.
    const outcome = await cliKilledAt(args, killed < kills ? moment(step) : never);
    if (outcome.killed) killed++;
    else return { kills: killed, stepsAtKill, finished: outcome.code === 0 };
  }
  return { kills: killed, stepsAtKill, finished: false };
}

/** How many evaluations a run database stores, over all its runs. */
export function rowCount(db: string): number {
  const conn = new Database(db, { readonly: true });
  try {
    return (conn.prepare('SELECT count(*) AS n FROM evaluations').get() as { n: number }).n;
  } finally {
    conn.close();
  }
}
