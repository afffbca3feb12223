/**
 * `npm run bench:remote`: evaluation through Redis and `evosearch worker` processes.
 * - overhead: a trivial fitness, whole runs (SQLite commit every step), evaluations/s;
 * - scaling: a CPU-bound fitness, 1 and 2 worker processes, interleaved;
 * - 64 workers: in-process BullMQ workers whose fitness sleeps, and the share of the time they are busy.
 * Starts its own redis-server on a free port (Debian's), or uses `--redis URL`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Store } from '../../store/store.js';
import { createRun, continueRun } from '../../engine/engine.js';
import { strategySchema } from '../../strategies/index.js';
import { fitnessSchema } from '../../fitness/load.js';
import { syntheticSpace } from '../../space/synthetic.js';
import { RemoteEvaluator } from '../../pool/remote.js';
import { WorkerPool } from '../../pool/pool.js';
import type { Evaluator } from '../../pool/evaluator.js';
import type { EvaluationJob, RemoteSetup } from '../../pool/remote-protocol.js';
import type { Experiment } from '../../engine/experiment.js';
import type { FitnessSpec } from '../../fitness/types.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const argv = process.argv.slice(2);

function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

async function until(ready: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1500; i++) {
    if (ready()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function redisServer(): Promise<{ url: string; stop(): void }> {
  const given = argv[argv.indexOf('--redis') + 1];
  if (argv.includes('--redis')) return { url: given, stop: () => undefined };
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  await until(() => /Ready to accept connections/.test(out), 'redis-server');
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') };
}

async function startWorkers(n: number, url: string, queue: string, extra: string[] = [], env: Record<string, string> = {}): Promise<ChildProcess[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const child = spawn(process.execPath, [CLI, 'worker', '--redis', url, '--queue', queue, ...extra], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
      let log = '';
      child.stderr!.on('data', (d) => (log += d));
      await until(() => /connected to/.test(log), 'a worker');
      return child;
    }),
  );
}

function experimentOf(strategy: unknown, fitness: FitnessSpec, units: number): Experiment {
  return { name: 'bench', seed: 1, space: syntheticSpace({ family: 'equalStep', units, levels: 8, seed: 1, budgetFraction: 0.5 }), strategy: strategySchema.parse(strategy), fitness, stop: {}, source: 'bench' };
}

/** A whole run on `evaluator` (a first evaluation warms it up): evaluations per second. */
async function runRate(experiment: Experiment, evaluator: (runId: string) => Promise<Evaluator>): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'evosearch-bench-'));
  const store = Store.open(join(dir, 'bench.db'));
  const runId = `bench-${Math.random().toString(36).slice(2)}`;
  const e = await evaluator(runId);
  try {
    await e.evaluate([experiment.space.units.map(() => 0)], { budget: 1, slice: 0 });
    createRun(store, runId, experiment);
    store.acquireLock(runId);
    const started = performance.now();
    const outcome = await continueRun(store, runId, experiment, e);
    return outcome.checkpoint.evaluations / ((performance.now() - started) / 1000);
  } finally {
    await e.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const remote = (url: string, queue: string, experiment: Experiment) => (runId: string) =>
  RemoteEvaluator.open({ fitness: experiment.fitness, space: experiment.space, seed: experiment.seed, run: runId, files: [], root: ROOT, lockMs: 30_000 }, { url, queue, waitMs: 10_000, log: (l) => console.error(l) });

async function overhead(url: string): Promise<void> {
  console.log('\n## Overhead through Redis (trivial synthetic fitness, 100 units, whole runs, 2 worker processes)');
  const queue = 'bench-overhead';
  const workers = await startWorkers(2, url, queue);
  const trivial = fitnessSchema.parse({ type: 'synthetic', seed: 1 }) as FitnessSpec;
  for (const batch of [64, 256, 1024]) {
    const experiment = experimentOf({ type: 'random', samples: 20_480, batch }, trivial, 100);
    const viaRedis: number[] = [];
    const local: number[] = [];
    for (let i = 0; i < 3; i++) {
      viaRedis.push(await runRate(experiment, remote(url, queue, experiment)));
      local.push(await runRate(experiment, async () => new WorkerPool({ fitness: trivial, space: experiment.space, seed: 1 }, 2)));
    }
    console.log(`random search, batch ${String(batch).padEnd(5)} Redis: median ${Math.round(median(viaRedis))} evals/s (${viaRedis.map(Math.round).join(', ')}); local pool of 2 threads: ${Math.round(median(local))} evals/s`);
  }
  workers.forEach((w) => w.kill('SIGKILL'));
}

async function scaling(url: string): Promise<void> {
  const ms = 20;
  console.log(`\n## Scaling from 1 to 2 worker processes (CPU-bound module fitness, ${ms} ms per evaluation, random search batch 64)`);
  const module = fileURLToPath(new URL('./cpu-fitness.js', import.meta.url));
  const fitness = fitnessSchema.parse({ type: 'module', path: module }) as FitnessSpec;
  const experiment = experimentOf({ type: 'random', samples: 640, batch: 64 }, fitness, 24);
  const env = { EVOSEARCH_BENCH_EVAL_MS: String(ms) };
  const one: number[] = [];
  const two: number[] = [];
  for (let i = 0; i < 3; i++) {
    // Interleaved, so that load from elsewhere on the machine hits both alike.
    for (const [n, rates] of [[1, one], [2, two]] as const) {
      const queue = `bench-scaling-${n}-${i}`;
      const workers = await startWorkers(n, url, queue, ['--allow-module', module], env);
      rates.push(await runRate(experiment, remote(url, queue, experiment)));
      workers.forEach((w) => w.kill('SIGKILL'));
    }
  }
  console.log(`1 worker process : median ${median(one).toFixed(1)} evals/s (${one.map((x) => x.toFixed(1)).join(', ')})`);
  console.log(`2 worker processes: median ${median(two).toFixed(1)} evals/s (${two.map((x) => x.toFixed(1)).join(', ')})`);
  console.log(`speed-up: ${(median(two) / median(one)).toFixed(2)}× (median of ratios ${median(two.map((t, i) => t / one[i])).toFixed(2)}×; ideal ${(1000 / ms).toFixed(0)} and ${(2000 / ms).toFixed(0)} evals/s)`);
}

/** 64 BullMQ workers in this process; each evaluation sleeps. Busy share = time in jobs / (64 × wall). */
async function manyWorkers(url: string, perStep: number): Promise<void> {
  const [n, ms, steps] = [64, 50, 5];
  console.log(`\n## ${n} simulated workers (in-process, each evaluation sleeps ${ms} ms; ${steps} requests of ${perStep} candidates)`);
  const queue = `bench-many-${perStep}`;
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  let busyMs = 0;
  const workers = Array.from(
    { length: n },
    (_, k) =>
      new Worker<EvaluationJob, number[]>(
        queue,
        async (job) => {
          const t = performance.now();
          await sleep(ms * job.data.genomes.length);
          busyMs += performance.now() - t;
          return job.data.genomes.map((g) => g.reduce((a, b) => a + b, 0));
        },
        { connection, concurrency: 1, name: `fake-${k}` },
      ),
  );
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  const experiment = experimentOf({ type: 'random', samples: 1, batch: 1 }, fitnessSchema.parse({ type: 'synthetic', seed: 1 }) as FitnessSpec, 24);
  const setup: RemoteSetup = { fitness: experiment.fitness, space: experiment.space, seed: 1, run: 'many', files: [], root: ROOT, lockMs: 30_000 };
  const evaluator = await RemoteEvaluator.open(setup, { url, queue, waitMs: 10_000, log: (l) => console.error(l) });
  const shares: number[] = [];
  for (let s = 0; s < steps; s++) {
    // Distinct genomes: jobs are named by their content, and equal ones would be one job.
    const genomes = Array.from({ length: perStep }, (_, i) => experiment.space.units.map((_, u) => (u < 5 ? ((i + s * perStep) >> (3 * u)) & 7 : 0)));
    busyMs = 0;
    const t = performance.now();
    await evaluator.evaluate(genomes, { budget: 1, slice: s });
    const wall = performance.now() - t;
    shares.push(busyMs / (n * wall));
    console.log(`request ${s + 1}: ${wall.toFixed(0)} ms (ideal ${((perStep / n) * ms).toFixed(0)} ms), workers busy ${(100 * shares[s]).toFixed(1)}% of the time`);
  }
  console.log(`utilisation: median ${(100 * median(shares)).toFixed(1)}%`);
  await evaluator.close();
  await Promise.all(workers.map((w) => w.close()));
  connection.disconnect();
}

const server = await redisServer();
try {
  if (!argv.includes('--skip-overhead')) await overhead(server.url);
  if (!argv.includes('--skip-scaling')) await scaling(server.url);
  if (!argv.includes('--skip-many')) for (const perStep of [1024, 256]) await manyWorkers(server.url, perStep);
} finally {
  server.stop();
}
process.exit(0);
