/**
 * `npm run bench`, language-model section: what one evaluation of a compressed language model
 * costs, on the machine at hand.
 *
 *  (a) forward-pass throughput (tokens/s, GFLOP/s, fraction of peak) of the reference model and
 *      of a random-weight GPT-2 of width 256, on onnxruntime (one single-threaded session per
 *      worker, 1 and 2 piscina workers) and on tfjs (wasm, 1 worker); the peak is a large float32
 *      MatMul in a single-threaded onnxruntime session, measured here, ×2 for the two cores;
 *  (b) wall time per generation of a real evopress run (the project's WorkerPool) on the
 *      reference model's SparseGPT-60% database;
 *  (c) the peak memory of a worker holding an LmFitness during such a run.
 *
 * This module is also the piscina worker of the section: its default export runs the tasks.
 */
import { Piscina } from 'piscina';
import { threadId } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTransformerConfig, linearLayers, weightShapes, type TransformerConfig } from '../../models/config.js';
import { loadTransformer, type Weights } from '../../models/transformer.js';
import { createTransformerRunner, type TransformerRunner } from '../../models/transformer-runner.js';
import { GraphBuilder } from '../../runtime/onnx-graph.js';
import { createSession, floatTensor } from '../../runtime/onnx.js';
import { Rng } from '../../rng/rng.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const REFERENCE = resolve(ROOT, 'models', 'reference-lm');
const EXPERIMENT = resolve(ROOT, 'experiments', 'lm', 'sparsegpt-60.json');
/** Used only when the MatMul peak cannot be measured: a 2-core Zen 3 (AVX2/FMA) measured earlier. */
const FALLBACK_PEAK = 195;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const MiB = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

// ---------------------------------------------------------------------------------------------
// FLOPs

/**
 * FLOPs of one token of a T-token forward pass: 2 · multiply-adds of every matmul — the linear
 * layers, QKᵀ and AV of attention, and the LM head (embedding gathers, norms, softmax and
 * activations are not counted). `full`: attention over the whole T×T score matrix, which is what
 * the graphs compute (the causal mask is added, not skipped); `causal`: the (T+1)/2 keys a token
 * sees on average.
 */
export function flopsPerToken(c: TransformerConfig, T: number, attention: 'full' | 'causal'): number {
  let macs = 0;
  for (const layer of linearLayers(c)) macs += layer.inFeatures * layer.outFeatures;
  const keys = attention === 'full' ? T : (T + 1) / 2;
  const headDim = c.dModel / c.nHeads;
  macs += c.nLayers * 2 * keys * c.nHeads * headDim; // QKᵀ and AV, every head
  macs += c.dModel * c.vocabSize; // the LM head
  return 2 * macs;
}

// ---------------------------------------------------------------------------------------------
// Worker side

/** Which model a worker runs: a model directory, or a GPT-2 of this config.json with random weights. */
type ModelSpec = { dir: string } | { config: Record<string, unknown>; seed: number };

interface Barrier {
  sab: SharedArrayBuffer;
  parties: number;
}

type Task =
  | { kind: 'peak'; n: number; seconds: number; barrier: Barrier }
  | { kind: 'forward'; backend: 'onnx' | 'tfjs'; model: ModelSpec; windows: Uint16Array[]; seconds: number; barrier: Barrier };

interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

type Result =
  | { kind: 'peak'; gflops: number }
  | { kind: 'forward'; tokens: number; seconds: number; executor: string; memory: Memory; thread: number };

/** The largest value of each field seen by this worker since the last reset. */
let peakMemory: Memory = { rss: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
function sampleMemory(): void {
  const m = process.memoryUsage();
  peakMemory = {
    rss: Math.max(peakMemory.rss, m.rss),
    heapUsed: Math.max(peakMemory.heapUsed, m.heapUsed),
    external: Math.max(peakMemory.external, m.external),
    arrayBuffers: Math.max(peakMemory.arrayBuffers, m.arrayBuffers),
  };
}

let runner: { key: string; run: TransformerRunner } | null = null;

/** Waits until every party of the run has arrived, so that all workers time the same seconds. */
function arrive({ sab, parties }: Barrier): void {
  const count = new Int32Array(sab);
  Atomics.add(count, 0, 1);
  Atomics.notify(count, 0);
  const deadline = Date.now() + 120_000;
  for (let seen = Atomics.load(count, 0); seen < parties; seen = Atomics.load(count, 0)) {
    if (Date.now() > deadline) throw new Error(`bench barrier: ${seen} of ${parties} workers arrived`);
    Atomics.wait(count, 0, seen, 100);
  }
}

function randomGpt2(raw: Record<string, unknown>, seed: number): { config: TransformerConfig; weights: Weights } {
  const config = parseTransformerConfig(raw, 'bench model');
  const rng = Rng.fromSeed(seed);
  const weights: Weights = new Map();
  for (const [name, shape] of weightShapes(config)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (/ln_\d|ln_f/.test(name)) data.fill(name.endsWith('.weight') ? 1 : 0);
    else if (!name.endsWith('.bias')) for (let i = 0; i < data.length; i++) data[i] = 0.02 * rng.normal();
    weights.set(name, data);
  }
  return { config, weights };
}

async function runnerFor(backend: 'onnx' | 'tfjs', model: ModelSpec, T: number): Promise<TransformerRunner> {
  const key = JSON.stringify([backend, model, T]);
  if (runner?.key === key) return runner.run;
  await runner?.run.close();
  runner = null;
  const { config, weights } = 'dir' in model ? loadTransformer(model.dir) : randomGpt2(model.config, model.seed);
  const run = await createTransformerRunner(config, T, weights, backend, 'cpu');
  runner = { key, run };
  return run;
}

function matmulPeak(n: number, seconds: number, barrier: Barrier): Promise<number> {
  return (async () => {
    const data = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i * 12.9898) * 0.05);
    const g = new GraphBuilder();
    g.output(g.op('MatMul', [g.input('a', [n, n]), g.weight('b', [n, n], data, false)]), 'c', [n, n]);
    const session = await createSession(g.encode());
    const feeds = { a: floatTensor(data, [n, n]) };
    for (let i = 0; i < 3; i++) await session.run(feeds);
    arrive(barrier);
    const ms: number[] = [];
    const start = performance.now();
    while (performance.now() - start < seconds * 1000) {
      const t = performance.now();
      await session.run(feeds);
      ms.push(performance.now() - t);
    }
    await session.release();
    return (2 * n * n * n) / median(ms) / 1e6;
  })();
}

/** Piscina task of this section. */
export default async function lmBenchTask(task: Task): Promise<Result> {
  if (task.kind === 'peak') return { kind: 'peak', gflops: await matmulPeak(task.n, task.seconds, task.barrier) };
  const run = await runnerFor(task.backend, task.model, task.windows[0].length);
  for (let i = 0; i < 3; i++) await run.run(task.windows[i % task.windows.length]); // warm-up
  peakMemory = { rss: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
  arrive(task.barrier);
  let passes = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    await run.run(task.windows[passes % task.windows.length]);
    passes++;
    sampleMemory();
    elapsed = performance.now() - start;
  } while (elapsed < task.seconds * 1000);
  return { kind: 'forward', tokens: passes * task.windows[0].length, seconds: elapsed / 1000, executor: run.name, memory: peakMemory, thread: threadId };
}

// ---------------------------------------------------------------------------------------------
// Coordinator side

function benchPool(threads: number): Piscina<Task, Result> {
  return new Piscina<Task, Result>({ filename: import.meta.url, minThreads: threads, maxThreads: threads, idleTimeout: 600_000 });
}

const barrier = (parties: number): Barrier => ({ sab: new SharedArrayBuffer(4), parties });

/** One GFLOP/s figure per worker, all of them running the MatMul at once. */
async function measurePeak(pool: Piscina<Task, Result>, threads: number): Promise<number[]> {
  const b = barrier(threads);
  const results = await Promise.all(Array.from({ length: threads }, () => pool.run({ kind: 'peak', n: 1024, seconds: 1.5, barrier: b })));
  return results.map((r) => (r.kind === 'peak' ? r.gflops : NaN));
}

interface ForwardRun {
  tokensPerSecond: number;
  executor: string;
  memory: Memory[];
}

async function forwardRun(pool: Piscina<Task, Result>, threads: number, backend: 'onnx' | 'tfjs', model: ModelSpec, windows: Uint16Array[], seconds: number): Promise<ForwardRun> {
  const b = barrier(threads);
  const results = await Promise.all(Array.from({ length: threads }, () => pool.run({ kind: 'forward', backend, model, windows, seconds, barrier: b })));
  const runs = results.filter((r): r is Extract<Result, { kind: 'forward' }> => r.kind === 'forward');
  if (new Set(runs.map((r) => r.thread)).size !== threads) throw new Error('bench: two forward tasks of one run landed on the same worker');
  return { tokensPerSecond: runs.reduce((s, r) => s + r.tokens / r.seconds, 0), executor: runs[0].executor, memory: runs.map((r) => r.memory) };
}

/**
 * Runs `generations` evopress generations of the sparsegpt-60 experiment (seeded `seed`) with the
 * CLI's pool: seconds per generation, the search's best configuration at the end of each
 * generation, worker memory.
 */
export async function searchRun(generations: number, workers: number, seed?: number) {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { loadExperiment } = await import('../../cli/db.js');
  const { Store } = await import('../../store/store.js');
  const { WorkerPool } = await import('../../pool/pool.js');
  const { createRun, continueRun } = await import('../../engine/engine.js');
  const loaded = await loadExperiment(EXPERIMENT); // builds results/db/reference-lm-sparsegpt-60 on first use
  const experiment = { ...loaded, seed: seed ?? loaded.seed, strategy: { ...loaded.strategy, generations } as typeof loaded.strategy };
  const dir = mkdtempSync(join(tmpdir(), 'evosearch-bench-lm-'));
  const store = Store.open(join(dir, 'bench.db'));
  const before = process.memoryUsage().rss;
  const pool = new WorkerPool({ fitness: experiment.fitness, space: experiment.space, seed: experiment.seed }, workers);
  try {
    // Load the fitness in every worker first (model, database, corpus), as a run's first step would.
    await pool.evaluate(Array.from({ length: workers * 4 }, () => experiment.space.units.map(() => 0)), { budget: 1, slice: 0 });
    const loadedRss = process.memoryUsage().rss;
    createRun(store, 'bench', experiment);
    store.acquireLock('bench');
    const marks: number[] = [];
    const incumbents: number[][] = [];
    let generation = 0;
    const started = performance.now();
    const outcome = await continueRun(store, 'bench', experiment, pool, {
      onProgress: (p) => {
        if (p.generation !== generation) {
          generation = p.generation;
          marks.push(performance.now());
          incumbents.push(store.getCheckpoint('bench').bestGenome!);
        }
      },
    });
    const seconds = (performance.now() - started) / 1000;
    const perGeneration = marks.map((t, i) => (t - (i ? marks[i - 1] : started)) / 1000);
    const elapsed = marks.map((t) => (t - started) / 1000);
    const rss = { before, loaded: loadedRss, highWater: process.resourceUsage().maxRSS * 1024 };
    return { perGeneration, elapsed, incumbents, experiment, seconds, evaluations: outcome.checkpoint.evaluations, memory: [...pool.peakMemory.values()], rss };
  } finally {
    await pool.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The windows the forward benchmark feeds: real text under the reference tokenizer. */
async function benchWindows(T: number, count: number): Promise<Uint16Array[]> {
  const { readTokenizer } = await import('../../models/tokenizer.js');
  const { sotuStreams, windowsOf } = await import('../../data/text.js');
  const tokenizer = readTokenizer(REFERENCE);
  return windowsOf(sotuStreams((t) => tokenizer.encode(t)).calibration, T, count).map((w) => w.slice(0, T));
}

/**
 * CPU time of other processes over an interval (Linux /proc/stat, minus this process's own): the
 * numbers of this section are only as good as the machine is quiet.
 */
function cpuWatch(): () => string {
  const read = (): { busy: number; total: number } | null => {
    try {
      const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
      const [user, nice, system, idle, iowait, irq, softirq, steal] = fields.map(Number);
      return { busy: user + nice + system + irq + softirq + steal, total: user + nice + system + idle + iowait + irq + softirq + steal };
    } catch {
      return null;
    }
  };
  const before = read();
  const own = process.cpuUsage();
  return () => {
    const after = read();
    if (!before || !after) return 'CPU use of other processes: unknown (no /proc/stat)';
    const ticks = 100; // USER_HZ
    const mine = process.cpuUsage(own);
    const others = Math.max(0, (after.busy - before.busy) / ticks - (mine.user + mine.system) / 1e6);
    const available = (after.total - before.total) / ticks;
    const share = available > 0 ? others / available : 0;
    return `other processes used ${others.toFixed(1)} of ${available.toFixed(1)} CPU-seconds (${(100 * share).toFixed(0)}%)${share > 0.05 ? ' — the machine was not quiet: these numbers are low' : ''}`;
  };
}


/** Returns the 2-core peak it measured (GFLOP/s), for the sections after it. */
export async function lmBench(): Promise<number> {
  const sectionStart = performance.now();
  const { readTransformerConfig } = await import('../../models/config.js');
  const refRaw = JSON.parse(readFileSync(resolve(REFERENCE, 'config.json'), 'utf8')) as Record<string, unknown>;
  const wideRaw = { ...refRaw, n_embd: 256, n_layer: 4, n_head: 4, n_inner: 1024 };
  const models: { label: string; spec: ModelSpec; config: TransformerConfig }[] = [
    { label: 'reference-lm (d=160, 4 layers, 4 heads, ff 640)', spec: { dir: REFERENCE }, config: readTransformerConfig(resolve(REFERENCE, 'config.json')) },
    { label: 'random GPT-2 (d=256, 4 layers, 4 heads, ff 1024)', spec: { config: wideRaw, seed: 1 }, config: parseTransformerConfig(wideRaw, 'bench model') },
  ];
  const T = models[0].config.contextLength;

  // (b) + (c) first, so that the memory figures are not inflated by the throughput pools.
  console.log('\n## LM search: evopress on reference-lm, SparseGPT-60% database (experiments/lm/sparsegpt-60.json), 2 workers, 20 generations');
  let load = cpuWatch();
  const search = await searchRun(20, 2);
  const later = median(search.perGeneration.slice(1));
  console.log(`${(search.seconds / search.perGeneration.length).toFixed(3)} s/generation (median ${later.toFixed(3)} s after the first, first ${search.perGeneration[0].toFixed(3)} s); ${(search.evaluations / search.seconds).toFixed(1)} evaluations/s (${search.evaluations} in ${search.seconds.toFixed(1)} s)`);
  console.log('worker peak memory, as the pool saw it after each chunk (worker threads share one process RSS):');
  search.memory.forEach((m, i) => console.log(`  worker ${i + 1}: heap ${MiB(m.heapUsed)} + external ${MiB(m.external)} MiB (arrayBuffers ${MiB(m.arrayBuffers)})`));
  const { rss } = search;
  console.log(
    `  process RSS: ${MiB(rss.before)} MiB before the pool, ${MiB(rss.loaded)} MiB with both workers loaded (≈ ${MiB((rss.loaded - rss.before) / 2)} MiB per worker), high-water mark ${MiB(rss.highWater)} MiB (≈ ${MiB((rss.highWater - rss.before) / 2)} MiB per worker)`,
  );
  console.log('  (external: the dense weights, the level tensors read so far and the cached dense-model outputs; the heap peak is mostly the parsed corpus, transient)');
  console.log(`  ${load()}`);
  // The same search on one worker: what the second worker buys a whole search (ask, tell, SQLite and all).
  const single = await searchRun(20, 1);
  const singleLater = median(single.perGeneration.slice(1));
  console.log(`1 worker: median ${singleLater.toFixed(3)} s/generation after the first; 1 → 2 workers: ${(singleLater / later).toFixed(2)}× per generation, ${(single.seconds / search.seconds).toFixed(2)}× over the whole run`);

  // (a) peak and throughput.
  const windows = await benchWindows(T, 8);
  const one = benchPool(1);
  const two = benchPool(2);
  const tfjs = benchPool(1);
  let peak = FALLBACK_PEAK;
  try {
    load = cpuWatch();
    let peakNote = `fallback: ${FALLBACK_PEAK} GFLOP/s measured earlier on a 2-core Zen 3 (AVX2/FMA)`;
    try {
      const [single] = await measurePeak(one, 1);
      const both = await measurePeak(two, 2);
      peak = 2 * single;
      peakNote = `measured here: 1024³ float32 MatMul, single-threaded onnxruntime session, ${single.toFixed(1)} GFLOP/s × 2 cores = ${peak.toFixed(1)} GFLOP/s (two sessions at once: ${both.map((x) => x.toFixed(1)).join(' + ')} = ${(both[0] + both[1]).toFixed(1)})`;
    } catch (err) {
      peakNote += ` (measuring failed: ${(err as Error).message})`;
    }
    console.log(`\n## LM evaluation throughput: forward passes of ${T}-token windows, medians of 3 runs of 2 s`);
    console.log(`peak: ${peakNote}; while measuring it ${load()}`);
    const cases = [
      { label: 'onnx, 1 worker ', pool: one, threads: 1, backend: 'onnx' as const },
      { label: 'onnx, 2 workers', pool: two, threads: 2, backend: 'onnx' as const },
      { label: 'tfjs, 1 worker ', pool: tfjs, threads: 1, backend: 'tfjs' as const },
    ];
    for (const model of models) {
      const full = flopsPerToken(model.config, T, 'full');
      const causal = flopsPerToken(model.config, T, 'causal');
      console.log(`\n${model.label}, T=${T}, vocab ${model.config.vocabSize}: ${(full / 1e6).toFixed(3)} MFLOP/token counting full T×T attention (${(causal / 1e6).toFixed(3)} counting the causal half); GFLOP/s below use the full count`);
      const modelLoad = cpuWatch();
      const runs = new Map<string, ForwardRun[]>(cases.map((c) => [c.label, []]));
      for (let rep = 0; rep < 3; rep++) {
        // Interleaved, so that load from elsewhere on the machine hits every case alike.
        for (const c of cases) runs.get(c.label)!.push(await forwardRun(c.pool, c.threads, c.backend, model.spec, windows, 2));
      }
      for (const c of cases) {
        const r = runs.get(c.label)!;
        const rate = median(r.map((x) => x.tokensPerSecond));
        const gflops = (rate * full) / 1e9;
        const share = c.threads === 1 ? `${((100 * gflops) / (peak / 2)).toFixed(1)}% of one core, ` : '';
        const mem = r[r.length - 1].memory.map((m) => `${MiB(m.heapUsed)}+${MiB(m.external)}`).join(', ');
        console.log(
          `  ${c.label} [${r[0].executor}]: ${rate.toFixed(0).padStart(6)} tokens/s (${r.map((x) => x.tokensPerSecond.toFixed(0)).join(', ')}), ${gflops.toFixed(1).padStart(5)} GFLOP/s = ${share}${((100 * gflops) / peak).toFixed(1)}% of the 2-core peak; worker heap+external MiB: ${mem}`,
        );
      }
      console.log(`  ${modelLoad()}`);
    }
    console.log(`\ntarget: ≥ 60% of the 2-core peak with onnx and 2 workers on the d≥256 model`);
  } finally {
    await Promise.all([one.destroy(), two.destroy(), tfjs.destroy()]);
  }
  console.log(`LM section: ${((performance.now() - sectionStart) / 1000).toFixed(0)} s`);
  return peak;
}
