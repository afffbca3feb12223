import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { CLI, FIXTURES, ROOT, afterNextStep, cli, exportOf, expectOneLineError, stepBeyond, tempDir, type CliResult } from './cli-helpers.js';
import { startRedis, startTlsRedis, startWorker, testRedis, uniqueQueue, waitFor, type RedisServer, type WorkerProcess } from './redis-helpers.js';

/**
 * Remote evaluation: a coordinator (`run|resume --redis`) and `evosearch worker` processes on one
 * Redis. Each test has its own queue, so tests never take each other's jobs.
 */

/** The CLI run without blocking this process, so that the workers' logs keep flowing. */
function cliAsync(args: string[]): Promise<CliResult> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

/** A copy of the slow module-fitness experiment (each evaluation burns EVOSEARCH_TEST_EVAL_MS of CPU in the worker). */
function slowExperiment(dir: string, generations: number, lockSeconds: number): string {
  const experiment = JSON.parse(readFileSync(join(FIXTURES, 'slow-experiment.json'), 'utf8'));
  experiment.fitness.path = join(FIXTURES, 'slow-fitness.mjs');
  experiment.strategy.generations = generations;
  experiment.remote = { lockSeconds };
  const file = join(dir, 'slow.json');
  writeFileSync(file, JSON.stringify(experiment));
  return file;
}

function syntheticExperiment(dir: string): string {
  const file = join(dir, 'synthetic.json');
  writeFileSync(
    file,
    JSON.stringify({
      name: 'remote-synthetic',
      seed: 4,
      space: { synthetic: { family: 'unequalCost', units: 40, levels: 8, seed: 2, budgetFraction: 0.5 } },
      strategy: { type: 'evopress', generations: 60, offspring: 16, selection: [{ survivors: 4, budget: 1 }, { survivors: 1, budget: 4 }] },
      fitness: { type: 'synthetic', seed: 3, noise: 0.02, slices: 4 },
    }),
  );
  return file;
}

/** The export of run `runId` made by the local pool with 2 threads: the reference every remote run must equal. */
function localExport(experiment: string, env: Record<string, string> = {}, runId = 'r'): string {
  const db = join(tempDir(), 'local.db');
  const r = cli(['run', experiment, '--db', db, '--run-id', runId, '--workers', '2', '--json'], env);
  expect(r.code, r.stderr).toBe(0);
  return exportOf(db, runId);
}

describe('remote workers on BullMQ and Redis', () => {
  let redis: RedisServer;
  const workers: WorkerProcess[] = [];
  const worker = async (args: string[], env: Record<string, string> = {}) => {
    const w = await startWorker(['--redis', redis.url, ...args], env);
    workers.push(w);
    return w;
  };

  beforeAll(async () => {
    redis = await testRedis();
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await redis.stop();
  });

  it('gives the local pool\'s export byte for byte on a synthetic search, with 2 worker processes', { timeout: 180_000 }, async () => {
    const queue = uniqueQueue('synthetic');
    const [a, b] = await Promise.all([worker(['--queue', queue]), worker(['--queue', queue])]);
    const experiment = syntheticExperiment(tempDir());
    const db = join(tempDir(), 'remote.db');
    const r = await cliAsync(['run', experiment, '--db', db, '--run-id', 'r', '--redis', redis.url, '--queue', queue, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(exportOf(db, 'r')).toBe(localExport(experiment));
    // Both processes took jobs.
    for (const w of [a, b]) expect(w.log()).toMatch(/synthetic fitness loaded/);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('gives the local pool\'s export byte for byte on the reference LM\'s KL search [slow]', { timeout: 300_000 }, async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'db.json'), JSON.stringify({ model: join(ROOT, 'models', 'reference-lm'), out: 'db', compression: { type: 'sparsity', method: 'magnitude', target: 0.5, stepsEachSide: 3 } }));
    const experiment = join(dir, 'experiment.json');
    writeFileSync(
      experiment,
      JSON.stringify({
        name: 'lm-remote',
        seed: 3,
        space: { database: 'db.json' },
        strategy: { type: 'evopress', generations: 10, offspring: 8, selection: [{ survivors: 2, budget: 1 }, { survivors: 1, budget: 2 }] },
        fitness: { type: 'kl', windows: 1, slices: 4 },
      }),
    );
    const expected = localExport(experiment); // builds the database too
    const queue = uniqueQueue('lm');
    const [a, b] = await Promise.all([worker(['--queue', queue]), worker(['--queue', queue])]);
    const db = join(dir, 'remote.db');
    const r = await cliAsync(['run', experiment, '--db', db, '--run-id', 'r', '--redis', redis.url, '--queue', queue, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(exportOf(db, 'r')).toBe(expected);
    for (const w of [a, b]) expect(w.log()).toMatch(/kl fitness loaded/);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('finishes with the identical result when a worker is SIGKILLed mid-job [slow]', { timeout: 300_000 }, async () => {
    const env = { EVOSEARCH_TEST_EVAL_MS: '100' };
    const dir = tempDir();
    const experiment = slowExperiment(dir, 6, 2);
    const queue = uniqueQueue('worker-kill');
    const allow = ['--queue', queue, '--allow-module', join(FIXTURES, 'slow-fitness.mjs')];
    const [doomed, survivor] = await Promise.all([worker(allow, env), worker(allow, env)]);
    const db = join(dir, 'remote.db');
    const run = cliAsync(['run', experiment, '--db', db, '--run-id', 'r', '--redis', redis.url, '--queue', queue, '--json']);
    await stepBeyond(db, 'r', 3);
    // Kill the worker while it holds a job it took under 40 ms ago (every job takes 100 ms or more):
    // BullMQ records which worker took a job, and when.
    const q = new Queue(queue, { connection: new Redis(redis.url, { maxRetriesPerRequest: null }) });
    const name = `${hostname()}/${doomed.child.pid}`;
    const justTaken = async () => (await q.getActive()).some((job) => job.processedBy === name && Date.now() - job.processedOn! < 40);
    await waitFor(justTaken, () => false, 'a job on the doomed worker');
    doomed.child.kill('SIGKILL');
    await q.close();
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    expect(survivor.log()).toMatch(/stopped renewing the lock .*back in the queue/);
    expect(exportOf(db, 'r')).toBe(localExport(experiment, env));
    await survivor.stop();
  });

  it('finishes with the identical result when the coordinator is SIGKILLed twice and resumed [slow]', { timeout: 300_000 }, async () => {
    const env = { EVOSEARCH_TEST_EVAL_MS: '5' };
    const dir = tempDir();
    const experiment = slowExperiment(dir, 40, 2);
    const queue = uniqueQueue('coordinator-kill');
    const allow = ['--queue', queue, '--allow-module', join(FIXTURES, 'slow-fitness.mjs')];
    const [a, b] = await Promise.all([worker(allow, env), worker(allow, env)]);
    const db = join(dir, 'remote.db');
    const remote = ['--db', db, '--redis', redis.url, '--queue', queue, '--json'];
    let step = 0;
    for (const [k, args] of [['run', experiment, '--run-id', 'r'], ['resume', 'r']].entries()) {
      const child = spawn(process.execPath, [CLI, ...args, ...remote], { cwd: ROOT, stdio: 'ignore' });
      const exited = new Promise((done) => child.once('exit', done));
      await afterNextStep(db, 'r', step, 30 + 40 * k)(new AbortController().signal);
      child.kill('SIGKILL');
      await exited;
      expect(child.signalCode).toBe('SIGKILL');
      step = await stepBeyond(db, 'r', step);
    }
    const r = await cliAsync(['resume', 'r', ...remote]);
    expect(r.code, r.stderr).toBe(0);
    expect(exportOf(db, 'r')).toBe(localExport(experiment, env));
    await Promise.all([a.stop(), b.stop()]);
  });

  it('refuses a job whose command or module the worker was not started to allow, or whose files differ', { timeout: 180_000 }, async () => {
    const queue = uniqueQueue('refuse');
    const plain = await worker(['--queue', queue]);
    const db = join(tempDir(), 'runs.db');
    const command = join(ROOT, 'experiments', 'command', 'experiment.json');
    const refused = await cliAsync(['run', command, '--db', db, '--run-id', 'c', '--redis', redis.url, '--queue', queue]);
    expectOneLineError(refused, /refused a job of run "c": fitness command \["node","\.\.\/\.\.\/test\/fixtures\/command-fitness\.mjs"\] is not allowed on this worker \(start it with --allow-command/);
    expect(plain.log()).toMatch(/refused job .* of run "c": fitness command/);
    await plain.stop();

    // A worker whose copy of the fitness module differs (found through --data-root) refuses too.
    const elsewhere = tempDir();
    mkdirSync(join(elsewhere, 'test', 'fixtures'), { recursive: true });
    const copy = join(elsewhere, 'test', 'fixtures', 'slow-fitness.mjs');
    copyFileSync(join(FIXTURES, 'slow-fitness.mjs'), copy);
    writeFileSync(copy, `${readFileSync(copy, 'utf8')}\n// edited\n`);
    const other = await worker(['--queue', queue, '--data-root', elsewhere, '--allow-module', copy]);
    const slow = slowExperiment(tempDir(), 5, 30);
    const differs = await cliAsync(['run', slow, '--db', db, '--run-id', 's', '--redis', redis.url, '--queue', queue]);
    expectOneLineError(differs, /refused a job of run "s": fitness module .*\/test\/fixtures\/slow-fitness\.mjs differs from the coordinator's/);
    await other.stop();

    // Allowed, the same command runs, and the stopped run resumes to the local pool's result.
    const allowing = await worker(['--queue', queue, '--allow-command', 'node ../../test/fixtures/command-fitness.mjs']);
    const resumed = await cliAsync(['resume', 'c', '--db', db, '--redis', redis.url, '--queue', queue, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(exportOf(db, 'c')).toBe(localExport(command, {}, 'c'));
    await allowing.stop();
  });

  it('works through a password-protected Redis over TLS (rediss://), and refuses a wrong password in one line', { timeout: 180_000 }, async () => {
    const tls = await startTlsRedis(tempDir(), 's3cret');
    const env = { NODE_EXTRA_CA_CERTS: tls.ca };
    const w = await startWorker(['--redis', tls.url], env);
    workers.push(w);
    const experiment = syntheticExperiment(tempDir());
    const db = join(tempDir(), 'runs.db');
    const wrong = tls.url.replace(':s3cret@', ':wrong@');
    expectOneLineError(cli(['run', experiment, '--db', db, '--run-id', 'w', '--redis', wrong], env), /--redis rediss:\/\/:\*\*\*@127\.0\.0\.1:\d+: Redis refused the connection \(WRONGPASS/);
    const r = cli(['run', experiment, '--db', db, '--run-id', 'r', '--redis', tls.url, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(exportOf(db, 'r')).toBe(localExport(experiment));
    expect(r.stdout + r.stderr).not.toMatch(/s3cret/);
    await w.stop();
    await tls.stop();
  });

  it('rides out a Redis restart within --redis-wait, stops with one line past it or when Redis is unreachable at the start, and resumes to the same result [slow]', { timeout: 300_000 }, async () => {
    const own = await startRedis();
    const db = join(tempDir(), 'runs.db');
    const experiment = slowExperiment(tempDir(), 12, 2);
    const env = { EVOSEARCH_TEST_EVAL_MS: '10' };
    const queue = uniqueQueue('down');
    const remote = (wait: number) => ['--db', db, '--redis', own.url, '--queue', queue, '--redis-wait', String(wait)];

    const stopped = await own.stop().then(() => cliAsync(['run', experiment, '--run-id', 'r', ...remote(2)]));
    expectOneLineError(stopped, /--redis redis:\/\/127\.0\.0\.1:\d+: Redis did not answer within 2 s \(ECONNREFUSED\)/);

    // Restarted empty (no persistence) within the wait: the setup and the jobs in flight are sent again.
    let server = await startRedis(own.port);
    const w = await startWorker(['--redis', own.url, '--queue', queue, '--allow-module', join(FIXTURES, 'slow-fitness.mjs')], env);
    workers.push(w);
    const rides = cliAsync(['resume', 'r', ...remote(120), '--json']);
    await stepBeyond(db, 'r', 2);
    await server.stop();
    server = await startRedis(own.port);
    const rode = await rides;
    expect(rode.code, rode.stderr).toBe(0);
    expect(rode.stderr).toMatch(/went down .*\n.*is back/);
    expect(exportOf(db, 'r')).toBe(localExport(experiment, env));

    // Down for longer than the wait: the run stops, resumable.
    const run = cliAsync(['run', experiment, '--run-id', 'q', ...remote(2)]);
    await stepBeyond(db, 'q', 2);
    await server.stop();
    const down = await run;
    expectOneLineError(down, /Redis stayed unreachable for 2 s .*can be resumed with --redis/);
    server = await startRedis(own.port);
    await waitFor(() => (w.log().match(/reconnected to/g) ?? []).length >= 2, () => w.child.exitCode !== null, 'the worker reconnecting');
    const resumed = await cliAsync(['resume', 'q', ...remote(60), '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(exportOf(db, 'q')).toBe(localExport(experiment, env, 'q'));
    await w.stop();
    await server.stop();
  });
});
