import { beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { fitnessSchema } from '../src/fitness/load.js';
import { Store } from '../src/store/store.js';
import { createRun } from '../src/engine/engine.js';
import { loadExperiment } from '../src/cli/db.js';
import { loadExperimentOfRun } from '../src/export/result.js';
import type { Experiment } from '../src/engine/experiment.js';
import { CLI, FIXTURES, ROOT, cli, expectOneLineError, tempDir, withoutTimestamps, type CliResult, rowCount } from './cli-helpers.js';

/**
 * Fitnesses that hang, busy-loop, kill their worker or run out of memory. Nothing here depends on
 * how fast the machine is: timeouts are seconds long, and only the way a run ends is asserted.
 */

const toy = join(ROOT, 'experiments', 'toy', 'experiment.json');
const GENERATIONS = 40;
/** Past this, a test's CLI process is killed: the test then fails on its exit instead of hanging. */
const DEADLINE_MS = 120_000;
/** Each test ends (its CLI processes killed at their deadline) before vitest gives up on it. */
const TEST_TIMEOUT = { timeout: 3 * DEADLINE_MS };

/** The toy loss exactly as experiments/toy/fitness.mjs computes it, for modules that add a fault to it. */
const TOY_LOSS = 'const loss = (genome, ctx) => genome.reduce((s, level, i) => s + (1 + (i % 3)) * ctx.space.units[i].levels[level] ** 2, 0);';

let dir: string;
let reference: string;

/** A variant of the toy experiment (40 generations) with this fitness, written into the test folder. */
function experiment(name: string, fitness: Record<string, unknown>): string {
  const e = JSON.parse(readFileSync(toy, 'utf8'));
  e.strategy.generations = GENERATIONS;
  e.fitness = fitness;
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(e, null, 2));
  return file;
}

/** A fitness module written into the test folder; files it names relative to itself land there too. */
function module(name: string, lines: string[]): string {
  writeFileSync(join(dir, name), lines.join('\n') + '\n');
  return `./${name}`;
}

/** The CLI, killed if it has not ended by the deadline. */
function cliWithin(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: DEADLINE_MS, killSignal: 'SIGKILL' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function exportOf(db: string, runId: string): string {
  const r = cli(['export', runId, '--db', db]);
  expect(r.stderr).toBe('');
  return withoutTimestamps(r.stdout);
}

function statusOf(db: string, runId: string): { status: string; message: string | null } {
  return JSON.parse(cli(['status', runId, '--db', db, '--json']).stdout);
}

/** The run failed: the one line on stderr is the message its status keeps. */
function expectFailedWith(db: string, runId: string, r: CliResult): void {
  const line = r.stderr.trim().split('\n').pop()!;
  expect(statusOf(db, runId)).toMatchObject({ status: 'failed', message: line.replace(/^evosearch: error: /, '') });
}

/** Resumes the run and checks that it ends exactly as the uninterrupted reference run, each evaluation stored once. */
/** The run ended exactly as the uninterrupted reference run, with each evaluation stored once. */
function expectReference(db: string, runId: string): void {
  const exported = exportOf(db, runId);
  expect(exported).toBe(reference);
  expect(rowCount(db)).toBe(JSON.parse(exported).provenance.evaluations);
}

function expectResumedToReference(db: string, runId: string): void {
  const r = cliWithin(['resume', runId, '--db', db, '--json']);
  expect(r.code, r.stderr).toBe(0);
  expectReference(db, runId);
}

/** Whether a process is still running (a zombie, dead but not yet reaped, is not). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Command processes a --pid-file lists: every one started, and those that hung. */
function pidsIn(file: string, what: 'start' | 'hang'): number[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').trim().split('\n').filter((l) => l.startsWith(`${what} `)).map((l) => Number(l.split(' ')[1]));
}

/** Waits (bounded) until none of these processes runs; returns those still running. */
async function stillRunning(pids: number[]): Promise<number[]> {
  for (let waited = 0; waited < 20_000 && pids.some(running); waited += 100) await sleep(100);
  return pids.filter(running);
}

/** Starts the CLI, sends SIGINT once `ready()` holds, and resolves with how it ended. */
async function interruptWhen(args: string[], ready: () => boolean): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS);
  let ended = false;
  void exited.then(() => (ended = true));
  while (!ready() && !ended) await sleep(50);
  if (!ended) child.kill('SIGINT');
  const code = await exited;
  clearTimeout(killer);
  return { code, stdout, stderr };
}

beforeAll(() => {
  dir = tempDir();
  const db = join(dir, 'reference.db');
  const file = experiment('reference', { type: 'module', path: module('toy.mjs', [TOY_LOSS, 'export default loss;']) });
  const r = cli(['run', file, '--db', db, '--run-id', 'r', '--json']);
  expect(r.code, r.stderr).toBe(0);
  reference = exportOf(db, 'r');
});

describe('fitness.timeout', TEST_TIMEOUT, () => {
  it('is stored with the run: 600 s for module, command and synthetic fitnesses, 3600 s for model fitnesses, the default for runs stored before it', async () => {
    const conn = new Database(join(dir, 'reference.db'), { readonly: true });
    const stored = JSON.parse((conn.prepare('SELECT experiment FROM runs WHERE id = ?').get('r') as { experiment: string }).experiment);
    conn.close();
    expect(stored.fitness.timeout).toBe(600);
    expect(fitnessSchema.parse({ type: 'command', command: ['x'] }).timeout).toBe(600);
    expect(fitnessSchema.parse({ type: 'synthetic' }).timeout).toBe(600);
    for (const type of ['kl', 'kl-topk', 'ppl', 'psnr', 'accuracy']) expect(fitnessSchema.parse({ type }).timeout).toBe(3600);
    expect(fitnessSchema.parse({ type: 'module', path: 'f.mjs', timeout: 2.5 }).timeout).toBe(2.5);

    const store = Store.open(join(tempDir(), 'old.db'));
    const toyExperiment = await loadExperiment(toy);
    const { timeout: _, ...old } = toyExperiment.fitness;
    createRun(store, 'old', { ...toyExperiment, fitness: old as Experiment['fitness'] });
    expect(loadExperimentOfRun(store, 'old').fitness.timeout).toBe(600);
    store.close();
  });

  it('refuses a timeout that is not a positive number of seconds', () => {
    const file = experiment('zero', { type: 'module', path: module('zero.mjs', [TOY_LOSS, 'export default loss;']), timeout: 0 });
    expectOneLineError(cli(['run', file, '--db', join(dir, 'zero.db')]), /zero\.json: fitness\.timeout: .*(>0|positive|greater)/i);
  });

  // Every evaluation hangs; each start is logged ("<thread> <genome>"), to see the retry.
  const hangs: [string, string][] = [
    ['never resolves', 'return new Promise(() => {});'],
    ['busy-loops', 'for (;;) {}'],
  ];

  it.each(hangs)('a module that %s: retried once in a new worker, then one line naming the fitness, the candidate and the timeout; the run is failed', (name, hang) => {
    const log = join(dir, `${name}.log`);
    const path = module(`${name.replace(/\W/g, '-')}.mjs`, [
      "import { appendFileSync } from 'node:fs';",
      "import { threadId } from 'node:worker_threads';",
      `export default (genome) => { appendFileSync(${JSON.stringify(log)}, threadId + ' ' + genome.join(',') + '\\n'); ${hang} };`,
    ]);
    const db = join(dir, `${name}.db`);
    const r = cliWithin(['run', experiment(name, { type: 'module', path, timeout: 2 }), '--db', db, '--run-id', 'h']);
    expectOneLineError(r, /fitness module \S+\.mjs timed out twice: exceeded the timeout of 2 s \(fitness\.timeout\) \(candidate 0, genome \[([\d,]+)\]\)$/);
    expectFailedWith(db, 'h', r);
    // The candidate was tried twice, each time in another worker thread.
    const genome = /genome \[([\d,]+)\]/.exec(r.stderr)![1];
    const tries = readFileSync(log, 'utf8').trim().split('\n').filter((l) => l.endsWith(` ${genome}`)).map((l) => l.split(' ')[0]);
    expect(tries).toHaveLength(2);
    expect(new Set(tries).size).toBe(2);
  });

  it('a module that busy-loops once: the retry scores it, and the run ends exactly as an uninterrupted run, each evaluation stored once', () => {
    const flag = join(dir, 'busy-once.flag');
    writeFileSync(flag, '');
    const path = module('busy-once.mjs', [
      "import { unlinkSync } from 'node:fs';",
      TOY_LOSS,
      'let calls = 0;',
      // Only the worker that removes the flag loops, and only once in the whole run.
      `const once = () => { try { unlinkSync(${JSON.stringify(flag)}); return true; } catch { return false; } };`,
      'export default (genome, ctx) => { if (++calls > 20 && once()) for (;;) {} return loss(genome, ctx); };',
    ]);
    const db = join(dir, 'busy-once.db');
    const r = cliWithin(['run', experiment('busy-once', { type: 'module', path, timeout: 5 }), '--db', db, '--run-id', 'r', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(flag)).toBe(false); // it did loop
    expectReference(db, 'r');
  });

  it('a command that never answers: one line naming the command and the candidate; no command process is left running', async () => {
    const pids = join(dir, 'never-answers.pids');
    const command = [process.execPath, join(FIXTURES, 'command-fitness.mjs'), '--hang-after', '0', '--pid-file', pids];
    const db = join(dir, 'never-answers.db');
    const r = cliWithin(['run', experiment('never-answers', { type: 'command', command, timeout: 2 }), '--db', db, '--run-id', 'c']);
    expectOneLineError(r, /fitness command ".*--hang-after 0.*" timed out twice: exceeded the timeout of 2 s \(fitness\.timeout\) \(candidate 0, genome \[[\d,]+\]\)$/);
    expectFailedWith(db, 'c', r);
    const started = pidsIn(pids, 'start');
    expect(started.length).toBeGreaterThanOrEqual(3); // two workers' processes, and the retry's
    expect(await stillRunning(started)).toEqual([]);
  });
});

describe('Ctrl-C', TEST_TIMEOUT, () => {
  it('the first Ctrl-C stops a run whose worker loops for good: interrupted, exit 0; resume then ends as an uninterrupted run', async () => {
    const flag = join(dir, 'loop.flag');
    const looping = join(dir, 'loop.looping');
    writeFileSync(flag, '');
    const path = module('loop.mjs', [
      "import { existsSync, writeFileSync } from 'node:fs';",
      TOY_LOSS,
      'let calls = 0;',
      `export default (genome, ctx) => { if (existsSync(${JSON.stringify(flag)}) && ++calls > 20) { writeFileSync(${JSON.stringify(looping)}, ''); for (;;) {} } return loss(genome, ctx); };`,
    ]);
    // The default timeout (600 s) is far away: only Ctrl-C can end this run.
    const db = join(dir, 'loop.db');
    const r = await interruptWhen(['run', experiment('loop', { type: 'module', path }), '--db', db, '--run-id', 'r', '--json'], () => existsSync(looping));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).status).toBe('interrupted');
    expect(statusOf(db, 'r').status).toBe('interrupted');
    rmSync(flag);
    expectResumedToReference(db, 'r');
  });

  it('the first Ctrl-C stops a run waiting on a command that never answers, and leaves no command process running', async () => {
    const pids = join(dir, 'ctrl-c.pids');
    const command = [process.execPath, join(FIXTURES, 'command-fitness.mjs'), '--hang-after', '10', '--pid-file', pids];
    const db = join(dir, 'ctrl-c.db');
    const r = await interruptWhen(['run', experiment('ctrl-c', { type: 'command', command }), '--db', db, '--run-id', 'c', '--json'], () => pidsIn(pids, 'hang').length > 0);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).status).toBe('interrupted');
    expect(statusOf(db, 'c').status).toBe('interrupted');
    expect(await stillRunning(pidsIn(pids, 'start'))).toEqual([]);
  });
});

describe('workers that die', TEST_TIMEOUT, () => {
  it('process.exit in a module: one line naming the fitness, the candidate and the exit code; the run is failed, and resume after the fix ends as an uninterrupted run', () => {
    const flag = join(dir, 'exit.flag');
    writeFileSync(flag, '');
    const path = module('exit.mjs', [
      "import { existsSync } from 'node:fs';",
      TOY_LOSS,
      'let calls = 0;',
      `export default (genome, ctx) => { if (existsSync(${JSON.stringify(flag)}) && ++calls > 20) process.exit(3); return loss(genome, ctx); };`,
    ]);
    const db = join(dir, 'exit.db');
    const r = cliWithin(['run', experiment('exit', { type: 'module', path }), '--db', db, '--run-id', 'r']);
    expectOneLineError(r, /fitness module \S+exit\.mjs crashed: called process.exit\(3\) \(candidate \d+, genome \[[\d,]+\]\)$/);
    expectFailedWith(db, 'r', r);
    rmSync(flag);
    expectResumedToReference(db, 'r');
  });

  it('a module that runs out of memory: one line saying so (the worker heap limited by EVOSEARCH_WORKER_HEAP_MB)', () => {
    const path = module('oom.mjs', ['const kept = [];', 'export default () => { for (;;) kept.push(new Array(1e5).fill(1.5)); };']);
    const db = join(dir, 'oom.db');
    const r = cliWithin(['run', experiment('oom', { type: 'module', path }), '--db', db, '--run-id', 'o'], { EVOSEARCH_WORKER_HEAP_MB: '64' });
    expectOneLineError(r, /fitness module \S+oom\.mjs crashed: worker ran out of memory \(heap limit 64 MiB, EVOSEARCH_WORKER_HEAP_MB\) \(candidate \d+, genome \[[\d,]+\]\)$/);
    expectFailedWith(db, 'o', r);
  });

  it('an uncaught exception in a module\'s callback: one line naming the fitness, the candidate and the exception', () => {
    const path = module('uncaught.mjs', ["export default () => new Promise(() => setTimeout(() => { throw new TypeError('boom'); }, 1));"]);
    const db = join(dir, 'uncaught.db');
    const r = cliWithin(['run', experiment('uncaught', { type: 'module', path }), '--db', db, '--run-id', 'u']);
    expectOneLineError(r, /fitness module \S+uncaught\.mjs crashed: uncaught TypeError: boom \(candidate \d+, genome \[[\d,]+\]\)$/);
    expectFailedWith(db, 'u', r);
  });

  it('a command that crashes: the run is failed, and resume after the fix ends as an uninterrupted run', () => {
    const command = [process.execPath, join(FIXTURES, 'command-fitness.mjs')];
    const fixed = join(dir, 'command-reference.db');
    expect(cliWithin(['run', experiment('command-good', { type: 'command', command }), '--db', fixed, '--run-id', 'r', '--json']).code).toBe(0);
    const flag = join(dir, 'command-crash.flag');
    writeFileSync(flag, '');
    const db = join(dir, 'command-crash.db');
    const r = cliWithin(['run', experiment('command-crash', { type: 'command', command: [...command, '--crash-after', '30', '--crash-while', flag] }), '--db', db, '--run-id', 'r']);
    expectOneLineError(r, /fitness command ".*--crash-after 30 .*" exited with code 3 \(stderr: simulated crash: out of memory\) \(candidate \d+, genome \[[\d,]+\]\)$/);
    expectFailedWith(db, 'r', r);
    rmSync(flag);
    expect(cliWithin(['resume', 'r', '--db', db, '--json']).code).toBe(0);
    expect(exportOf(db, 'r')).toBe(exportOf(fixed, 'r'));
  });
});
