import { spawn, spawnSync } from 'node:child_process';
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

/** Runs the built CLI to completion. */
export function cli(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the CLI and SIGKILLs it after `ms` (if still running); resolves with its exit. */
export function cliKilledAfter(args: string[], ms: number, env: Record<string, string> = {}): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: 'ignore', env: { ...process.env, ...env } });
    let killed = false;
    const timer = setTimeout(() => {
      killed = child.kill('SIGKILL');
    }, ms);
    child.on('exit', (code) => {
      clearTimeout(timer);
      done({ killed: killed && code === null, code });
    });
  });
}

/** An export with its timestamps removed: what must match byte for byte between runs. */
export function withoutTimestamps(exported: string): string {
  return exported.replace(/"createdAt": "[^"]*"/g, '"createdAt": "<time>"');
}

/**
 * Runs `experiment` as run `runId` in `db`, SIGKILLing it `kills` times after `delay()` ms each
 * (resuming after each kill), then lets it finish. Returns the checkpoint step found after each
 * kill (0 when the kill came before the first committed step) and whether it finished cleanly.
 */
export async function runWithKills(experiment: string, db: string, runId: string, kills: number, delay: () => number): Promise<{ kills: number; stepsAtKill: number[]; finished: boolean }> {
  let killed = 0;
  const stepsAtKill: number[] = [];
  for (let attempt = 0; attempt < 5 * kills + 20; attempt++) {
    const status = cli(['status', runId, '--db', db, '--json']);
    const started = status.code === 0;
    if (killed > 0) stepsAtKill.push(started ? JSON.parse(status.stdout).step : 0);
    const args = started ? ['resume', runId, '--db', db, '--json'] : ['run', experiment, '--db', db, '--run-id', runId, '--json'];
    const outcome = await cliKilledAfter(args, killed < kills ? delay() : 120_000);
    if (outcome.killed) killed++;
    else return { kills: killed, stepsAtKill, finished: outcome.code === 0 };
  }
  return { kills: killed, stepsAtKill, finished: false };
}
