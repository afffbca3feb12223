/**
 * `npm run bench`: coordinator throughput, worker scaling and the gap to the optimum on the
 * synthetic acceptance problems. Prints numbers; writes the gap table to results/.
 */
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store } from '../../store/store.js';
import { WorkerPool } from '../../pool/pool.js';
import { createRun, continueRun } from '../../engine/engine.js';
import { strategySchema } from '../../strategies/index.js';
import { fitnessSchema } from '../../fitness/load.js';
import { syntheticSpace } from '../../space/synthetic.js';
import { csvField } from '../../export/result.js';
import type { Experiment } from '../../engine/experiment.js';
import type { FitnessSpec } from '../../fitness/types.js';
import { gapRun } from './gap.js';
import { noiseTable } from './noise.js';
import { trainingBench } from './training.js';
import { lmBench } from './lm.js';
import { imageBench } from './images.js';
import { memoryBench } from './memory.js';
import { GraphBuilder } from '../../runtime/onnx-graph.js';
import { createSession, floatTensor } from '../../runtime/onnx.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const args = new Set(process.argv.slice(2));

async function throughput(name: string, strategy: unknown, fitness: FitnessSpec, workers: number, units = 100): Promise<{ evalsPerSecond: number; evaluations: number; seconds: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'evosearch-bench-'));
  const experiment: Experiment = {
    name,
    seed: 1,
    space: syntheticSpace({ family: 'equalStep', units, levels: 8, seed: 1, budgetFraction: 0.5 }),
    strategy: strategySchema.parse(strategy),
    fitness,
    stop: {},
    source: 'bench',
  };
  const store = Store.open(join(dir, 'bench.db'));
  const pool = new WorkerPool({ fitness: experiment.fitness, space: experiment.space, seed: 1 }, workers);
  try {
    await pool.evaluate([experiment.space.units.map(() => 0)], { budget: 1, slice: 0 }); // warm the workers up
    createRun(store, 'bench', experiment);
    store.acquireLock('bench');
    const started = process.hrtime.bigint();
    const outcome = await continueRun(store, 'bench', experiment, pool);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { evalsPerSecond: outcome.checkpoint.evaluations / seconds, evaluations: outcome.checkpoint.evaluations, seconds };
  } finally {
    await pool.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function coordinatorOverhead(): Promise<void> {
  console.log('\n## Coordinator overhead (trivial synthetic fitness, 100 units, SQLite commit every step)');
  const trivial = fitnessSchema.parse({ type: 'synthetic', seed: 1 }) as FitnessSpec;
  const cases: [string, unknown][] = [
    ['random, batch 64', { type: 'random', samples: 20_000, batch: 64 }],
    ['evopress λ=64, no model (screening 0)', { type: 'evopress', generations: 300, offspring: 64, screening: 0 }],
    ['evopress λ=16, defaults (model screening)', { type: 'evopress', generations: 1000, offspring: 16 }],
  ];
  for (const [label, strategy] of cases) {
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await throughput(label, strategy, trivial, 2));
    console.log(`${label.padEnd(44)} median ${Math.round(median(runs.map((r) => r.evalsPerSecond)))} evals/s  (runs: ${runs.map((r) => Math.round(r.evalsPerSecond)).join(', ')}; ${runs[0].evaluations} evaluations each)`);
  }
}

async function workerScaling(): Promise<void> {
  console.log('\n## Worker scaling (CPU-bound module fitness, ~2 ms per evaluation, random search batch 64)');
  process.env.EVOSEARCH_BENCH_EVAL_MS = '2';
  const fitness = fitnessSchema.parse({ type: 'module', path: fileURLToPath(new URL('./cpu-fitness.js', import.meta.url)) }) as FitnessSpec;
  const strategy = { type: 'random', samples: 1280, batch: 64 };
  const one: number[] = [];
  const two: number[] = [];
  for (let i = 0; i < 3; i++) {
    // Interleaved, so that load from elsewhere on the machine hits both alike.
    one.push((await throughput('w1', strategy, fitness, 1, 24)).evalsPerSecond);
    two.push((await throughput('w2', strategy, fitness, 2, 24)).evalsPerSecond);
  }
  console.log(`1 worker : median ${median(one).toFixed(0)} evals/s (${one.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`2 workers: median ${median(two).toFixed(0)} evals/s (${two.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`speed-up : ${(median(two) / median(one)).toFixed(2)}× (median of ratios ${median(two.map((t, i) => t / one[i])).toFixed(2)}×)`);
}

function gapTable(): void {
  console.log('\n## Gap to the DP optimum (≤ 100k evaluations, seeds 1–5)');
  const problems = [
    ['equalStep', 100, 10],
    ['equalStep', 200, 8],
    ['unequalCost', 100, 10],
    ['unequalCost', 200, 8],
  ] as const;
  const strategies = [
    ['evopress', { type: 'evopress', generations: 1_000_000, offspring: 16 }],
    ['evopress, no model (screening 0, maxJump 3)', { type: 'evopress', generations: 1_000_000, offspring: 16, screening: 0, maxJump: 3 }],
    ['genetic', { type: 'genetic', generations: 1_000_000 }],
    ['random', { type: 'random', samples: 100_000 }],
  ] as const;
  const rows: string[] = ['| problem | strategy | gap % (seeds 1–5) | worst | median evals to ≤0.1% / ≤1% | seconds |', '|---|---|---|---|---|---|'];
  const csv: string[] = ['problem,strategy,seed,evaluations,gap_percent'];
  for (const [family, units, levels] of problems) {
    for (const [label, config] of strategies) {
      const gaps: number[] = [];
      const reach: number[] = [];
      let seconds = 0;
      for (let seed = 1; seed <= 5; seed++) {
        const run = gapRun({ family, units, levels, seed, budgetFraction: 0.5 }, strategySchema.parse(config), { seed, maxEvaluations: 100_000, stopAtGap: 0, curveEvery: 2000 });
        gaps.push(run.gap);
        seconds += run.seconds;
        const target = family === 'equalStep' ? 0.1 : 1;
        reach.push(run.curve.find((p) => p.gap <= target)?.evaluations ?? Infinity);
        for (const p of run.curve) csv.push(`${family}-${units}x${levels},${csvField(label)},${seed},${p.evaluations},${p.gap.toFixed(5)}`);
      }
      const target = family === 'equalStep' ? '0.1%' : '1%';
      const line = `| ${family} ${units}×${levels} | ${label} | ${gaps.map((g) => g.toFixed(3)).join(' ')} | ${Math.max(...gaps).toFixed(3)} | ${median(reach) === Infinity ? 'not reached' : median(reach)} (to ${target}) | ${seconds.toFixed(1)} |`;
      rows.push(line);
      console.log(line);
    }
  }
  mkdirSync(join(ROOT, 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'results', 'synthetic-gap.md'), `# Gap to the exact optimum on synthetic problems\n\nWritten by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}. The curve per run is in synthetic-gap.csv.\n\n${rows.join('\n')}\n`);
  writeFileSync(join(ROOT, 'results', 'synthetic-gap.csv'), csv.join('\n') + '\n');
  console.log('wrote results/synthetic-gap.md and results/synthetic-gap.csv');
}

async function onnxThroughput(): Promise<void> {
  console.log('\n## onnxruntime-node, one single-threaded session: MLP 512×256 → 1024 → 256 (float32)');
  const [batch, d, h] = [512, 256, 1024];
  const random = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.05);
  const x = random(batch * d);
  const w1 = random(d * h);
  const w2 = random(h * d);
  for (const asInputs of [true, false]) {
    const g = new GraphBuilder();
    const hidden = g.op('Relu', [g.op('MatMul', [g.input('x', [batch, d]), g.weight('w1', [d, h], w1, asInputs)])]);
    g.output(g.op('MatMul', [hidden, g.weight('w2', [h, d], w2, asInputs)]), 'y', [batch, d]);
    const session = await createSession(g.encode());
    const feeds: Record<string, ReturnType<typeof floatTensor>> = { x: floatTensor(x, [batch, d]) };
    if (asInputs) Object.assign(feeds, { w1: floatTensor(w1, [d, h]), w2: floatTensor(w2, [h, d]) });
    for (let i = 0; i < 5; i++) await session.run(feeds);
    const ms: number[] = [];
    for (let i = 0; i < 21; i++) {
      const t = performance.now();
      await session.run(feeds);
      ms.push(performance.now() - t);
    }
    const flops = 2 * 2 * batch * d * h;
    console.log(`weights as ${asInputs ? 'inputs      ' : 'initializers'}: median ${median(ms).toFixed(2)} ms, ${(flops / median(ms) / 1e6).toFixed(1)} GFLOP/s`);
  }
}

if (!args.has('--skip-throughput')) {
  await onnxThroughput();
  await coordinatorOverhead();
  await workerScaling();
}
const peak = args.has('--skip-lm') ? null : await lmBench();
if (!args.has('--skip-training')) await trainingBench(peak);
if (!args.has('--skip-images')) await imageBench();
if (!args.has('--skip-memory')) await memoryBench(ROOT);
if (!args.has('--skip-gap')) gapTable();
if (!args.has('--skip-noise')) noiseTable(ROOT);
