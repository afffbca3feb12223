/**
 * `npm run bench:peers`: evosearch's KL fitness against EvoPress's evaluation in PyTorch
 * (bench/peers/lm_peer.py, Debian's python3-torch, installed if missing), on the same model, the
 * same level database (the reference LM's SparseGPT 60%), the same windows and the same
 * configurations, on 1 and on 2 cores (whole passes: random configurations share no prefix); a
 * generation's offspring of a scored parent, where the project's prefix reuse applies and the
 * peer runs whole passes; and level databases built by both from scratch (SparseGPT
 * and GPTQ of the reference LM, SparseGPT of a random 19M-parameter GPT-2). The peer's logits are
 * checked against ONNX's first. Prints one table of seconds per evaluation (medians), build
 * seconds and project/peer ratios, from one run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LmFitness, type LmFitnessSpec } from '../../fitness/lm.js';
import { readManifest } from '../../compress/manifest.js';
import { buildDatabase } from '../../compress/build.js';
import { loadDatabaseConfig } from '../../compress/config.js';
import { WorkerPool } from '../../pool/pool.js';
import { Rng } from '../../rng/rng.js';
import type { Genome } from '../../space/space.js';
import { SpaceIndex, type Space } from '../../space/space.js';
import { levelSwitch } from '../../strategies/operators.js';
import { readTokenizer } from '../../models/tokenizer.js';
import { sotuStreams, windowsOf } from '../../data/text.js';
import { GPT2_6X512, writeRandomGpt2 } from '../models/random-gpt2.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const PYTHON = '/usr/bin/python3'; // Debian's, where python3-torch installs
const MODEL = join(ROOT, 'models', 'reference-lm');
const DATABASE = join(ROOT, 'results', 'db', 'reference-lm-sparsegpt-60');
const LENGTH = 128;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const argv = process.argv.slice(2);
const TOKENS = argv.includes('--tokens') ? argv[argv.indexOf('--tokens') + 1].split(',').map(Number) : [2048, 16384, 65536];
const GENOMES = 5;
/** `--skip-builds`: the fitness rows alone. */
const BUILDS = !argv.includes('--skip-builds');

function run(command: string, args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${command} ${args.slice(0, 2).join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** Debian's python3-torch, with OpenBLAS as its BLAS (without libopenblas0 it links the slow reference BLAS). */
function ensurePeer(): void {
  const packages = ['python3-torch', 'libopenblas0-pthread'];
  if (spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0 && spawnSync('dpkg', ['-s', packages[1]], { stdio: 'ignore' }).status === 0) return;
  console.log(`installing Debian ${packages.join(' and ')} (the peer) …`);
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const apt = [...sudo, 'apt-get', 'install', '-y', '--no-install-recommends', ...packages];
  if (spawnSync(apt[0], apt.slice(1), { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status !== 0) throw new Error(`could not install ${packages.join(', ')} with apt-get`);
}

function ensureDatabase(): void {
  run(process.execPath, [join(ROOT, 'dist', 'cli', 'main.js'), 'db', 'build', join(ROOT, 'experiments', 'databases', 'sparsegpt-60.json'), '--json']);
}

/**
 * OpenBLAS picks a generic kernel on this processor unless told its type. Each candidate type is
 * timed on a 512² product in the peer's own Python, and the fastest is the peer's setting: set
 * in the peer's environment alone, and printed.
 */
function fastestBlasCore(): { env: Record<string, string>; table: string } {
  const probe = 'import time,torch\ntorch.set_num_threads(1)\na=torch.randn(512,512)\nfor _ in range(3): a@a\nt=time.perf_counter()\nfor _ in range(20): a@a\nprint((time.perf_counter()-t)/20)';
  const rows: { core: string; gflops: number }[] = [];
  for (const core of ['(automatic)', 'Haswell', 'Zen', 'SkylakeX', 'Cooperlake']) {
    const env: Record<string, string> = core === '(automatic)' ? {} : { OPENBLAS_CORETYPE: core };
    // A kernel for instructions this processor lacks (AVX-512 on a Zen) dies of SIGILL: not a candidate.
    const r = spawnSync(PYTHON, ['-c', probe], { encoding: 'utf8', env: { ...process.env, ...env } });
    rows.push({ core, gflops: r.status === 0 ? (2 * 512 ** 3) / Number(r.stdout.trim()) / 1e9 : NaN });
  }
  const best = rows.filter((r) => r.gflops > 0).reduce((a, b) => (b.gflops > a.gflops ? b : a));
  const shown = (r: { core: string; gflops: number }) => `${r.core} ${Number.isNaN(r.gflops) ? 'cannot run here' : r.gflops.toFixed(1)}`;
  return { env: best.core === '(automatic)' ? {} : { OPENBLAS_CORETYPE: best.core }, table: rows.map(shown).join(', ') };
}

function randomGenomes(space: Space, count: number): Genome[] {
  const rng = Rng.fromSeed('bench-peers');
  // Feasibility does not matter to the speed of an evaluation; random levels exercise the swaps.
  return Array.from({ length: count }, () => space.units.map((u) => rng.int(0, u.levels.length - 1)));
}

/** λ offspring of the uniform configuration by EvoPress's level switches, as one generation of a search makes them. */
function offspringOf(space: Space, parent: Genome, count: number): Genome[] {
  const rng = Rng.fromSeed('bench-peers-offspring');
  const index = new SpaceIndex(space);
  const children: Genome[] = [];
  while (children.length < count) {
    const child = levelSwitch(index, parent, rng, 16);
    if (child) children.push(child);
  }
  return children;
}

/**
 * Seconds per evaluation of offspring of a parent the worker has scored (on the same windows), as
 * in a search: prefix reuse starts each offspring's windows at its first changed sub-block.
 */
async function projectOffspring(spec: LmFitnessSpec, parent: Genome, offspring: Genome[], warmUp: Genome[]): Promise<{ seconds: number; values: number[]; skipped: number }> {
  const fitness = await LmFitness.load(spec);
  try {
    const { seconds, values } = await projectOneCore(fitness, offspring, [...warmUp, parent]);
    return { seconds, values, skipped: fitness.prefixReuse?.skipped ?? 0 };
  } finally {
    await fitness.close();
  }
}

const specFor = (windows: number): LmFitnessSpec => ({
  type: 'kl',
  windows,
  slices: 1,
  validationSlices: 1,
  length: LENGTH,
  topK: 16,
  cacheMiB: 4096,
  prefixCacheMiB: 0,
  levelCacheMiB: 1024,
  backend: 'onnx',
  device: 'cpu',
  timeout: 3600,
  minimize: true,
  database: DATABASE,
  model: MODEL,
});

/**
 * Seconds per evaluation of configurations new to the worker: warmed on other configurations
 * (dense outputs cached, level files read), since a worker reuses the windows it has already
 * scored for a configuration.
 */
async function projectOneCore(fitness: LmFitness, genomes: Genome[], warmUp: Genome[]): Promise<{ seconds: number; values: number[] }> {
  for (const g of warmUp) await fitness.evaluate(g, { budget: 1, slice: 0 });
  const seconds: number[] = [];
  const values: number[] = [];
  for (const g of genomes) {
    const t = performance.now();
    values.push(await fitness.evaluate(g, { budget: 1, slice: 0 }));
    seconds.push((performance.now() - t) / 1000);
  }
  return { seconds: median(seconds), values };
}

/** Two worker threads, as a search runs them: wall time over evaluations of configurations new to a warm pool. */
async function projectTwoCores(spec: LmFitnessSpec, space: Space, genomes: Genome[], warmUp: Genome[]): Promise<number> {
  const pool = new WorkerPool({ fitness: spec, space, seed: 1 }, 2);
  try {
    await pool.evaluate(warmUp, { budget: 1, slice: 0 }); // both workers warm
    const t = performance.now();
    await pool.evaluate(genomes, { budget: 1, slice: 0 });
    return (performance.now() - t) / 1000 / genomes.length;
  } finally {
    await pool.close();
  }
}

/**
 * One level database built from scratch by the project (`threads` 1 and 2) and by the peer (1 and
 * 2 threads), on the same calibration windows: seconds by thread count.
 */
async function compareBuild(dir: string, model: string, compression: object, blasEnv: Record<string, string>): Promise<{ project: Map<number, number>; peer: Map<number, number> }> {
  const name = `build-${buildCount++}`;
  const project = new Map<number, number>();
  for (const threads of [1, 2]) {
    const configFile = join(dir, `${name}-${threads}.json`);
    writeFileSync(configFile, JSON.stringify({ model, out: join(dir, `${name}-db-${threads}`), compression, calibration: { windows: CALIBRATION_WINDOWS } }));
    const started = performance.now();
    const built = await buildDatabase(loadDatabaseConfig(configFile), undefined, { threads });
    project.set(threads, (performance.now() - started) / 1000);
    const levels = built.manifest.units.reduce((n, u) => n + u.levels.length, 0);
    console.log(`project: ${JSON.stringify(compression)} of ${model}: ${levels} levels in ${project.get(threads)!.toFixed(1)} s, ${threads} thread(s)`);
  }
  // The calibration windows the project's build read (its calibration split, the model's context).
  const tokenizer = readTokenizer(model);
  const windows = windowsOf(sotuStreams((t) => tokenizer.encode(t)).calibration, LENGTH, CALIBRATION_WINDOWS);
  const windowsFile = join(dir, `${name}-windows.bin`);
  writeFileSync(windowsFile, Buffer.concat(windows.map((w) => Buffer.from(w.buffer, w.byteOffset, w.byteLength))));
  const peer = new Map<number, number>();
  for (const threads of [1, 2]) {
    const job = join(dir, `${name}-peer-${threads}.json`);
    mkdirSync(join(dir, `${name}-peer-db-${threads}`));
    writeFileSync(job, JSON.stringify({ model, database: join(dir, `${name}-db-1`), length: LENGTH, threads, build: { windows: windowsFile, damping: 0.01, out: join(dir, `${name}-peer-db-${threads}`) } }));
    const r = JSON.parse(run(PYTHON, [join(ROOT, 'bench', 'peers', 'lm_peer.py'), job], { ...blasEnv, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) }).trim().split('\n').pop()!);
    peer.set(threads, r.seconds);
    console.log(`peer: the same database (${r.levels} levels, float64 as the project's) in ${r.seconds.toFixed(1)} s, ${threads} thread(s)`);
  }
  return { project, peer };
}
let buildCount = 0;
const CALIBRATION_WINDOWS = 32;

ensurePeer();
ensureDatabase();
const dir = mkdtempSync(join(tmpdir(), 'evosearch-peers-'));
try {
  const blas = fastestBlasCore();
  console.log(`OpenBLAS kernels on a 512² product, 1 thread, GFLOP/s: ${blas.table}; the peer runs with ${blas.env.OPENBLAS_CORETYPE ? `OPENBLAS_CORETYPE=${blas.env.OPENBLAS_CORETYPE}` : 'OpenBLAS\'s own choice'}`);
  const manifest = readManifest(DATABASE);
  const space: Space = { units: manifest.units.map((u) => ({ name: u.name, levels: u.levels.map((l) => l.value), cost: u.levels.map((l) => l.cost) })), budget: manifest.budget } as Space;
  // Distinct configurations: the timed ones (twice as many for two workers), then the warm-up ones.
  const all = randomGenomes(space, 2 * GENOMES + 4);
  const [genomes, pairGenomes, warmUp] = [all.slice(0, GENOMES), all.slice(0, 2 * GENOMES), all.slice(2 * GENOMES)];
  const cases: { tokens: number; windows: string }[] = [];
  const project = new Map<number, { one: number; two: number; values: number[] }>();
  let check: Record<string, unknown> | null = null;
  for (const tokens of TOKENS) {
    const spec = specFor(tokens / LENGTH);
    const fitness = await LmFitness.load(spec);
    const windows = Array.from({ length: spec.windows }, (_, i) => fitness.pool[i]);
    const file = join(dir, `windows-${tokens}.bin`);
    writeFileSync(file, Buffer.concat(windows.map((w) => Buffer.from(w.buffer, w.byteOffset, w.byteLength))));
    cases.push({ tokens, windows: file });
    if (!check) {
      writeFileSync(join(dir, 'window.bin'), Buffer.from(windows[0].buffer, windows[0].byteOffset, windows[0].byteLength));
      const dense = await fitness.logitsOf(null, windows[0].subarray(0, LENGTH));
      const candidate = await fitness.logitsOf(genomes[0], windows[0].subarray(0, LENGTH));
      writeFileSync(join(dir, 'dense.bin'), Buffer.from(dense.buffer, dense.byteOffset, dense.byteLength));
      writeFileSync(join(dir, 'candidate.bin'), Buffer.from(candidate.buffer, candidate.byteOffset, candidate.byteLength));
      check = { window: join(dir, 'window.bin'), dense: join(dir, 'dense.bin'), candidate: join(dir, 'candidate.bin'), genome: genomes[0] };
    }
    const one = await projectOneCore(fitness, genomes, warmUp);
    await fitness.close();
    const two = await projectTwoCores(spec, space, pairGenomes, warmUp);
    project.set(tokens, { one: one.seconds, two, values: one.values });
    console.log(`project, ${tokens} tokens: ${one.seconds.toFixed(3)} s/eval on 1 core, ${two.toFixed(3)} on 2`);
  }
  // A generation's offspring of a scored parent, where prefix reuse applies (the peer runs whole passes).
  const parent = [...manifest.uniform];
  const offspring = offspringOf(space, parent, GENOMES);
  const searchTokens = TOKENS.filter((t) => t >= 16384);
  const searchCases = cases.filter((c) => searchTokens.includes(c.tokens));
  const inSearch = new Map<number, { seconds: number; values: number[]; skipped: number }>();
  for (const tokens of searchTokens) {
    // The parent's streams on every window, with the offspring's beside them.
    const r = await projectOffspring({ ...specFor(tokens / LENGTH), prefixCacheMiB: 2048 }, parent, offspring, warmUp);
    inSearch.set(tokens, r);
    console.log(`project, ${tokens} tokens, offspring of a scored parent: ${r.seconds.toFixed(3)} s/eval on 1 core (prefix reuse skipped ${(100 * r.skipped).toFixed(0)}% of sub-blocks, parent and warm-up included)`);
  }
  // The peer on 2 cores, at its best: one process with 2 threads, or 2 processes of 1 thread side by side.
  const peer = new Map<string, number>();
  const runPeer = (threads: number, copies: number, withCheck: boolean, work = { genomes, warmUp, cases }) => {
    const job = join(dir, `job-${threads}.json`);
    writeFileSync(job, JSON.stringify({ model: MODEL, database: DATABASE, length: LENGTH, threads, ...work, check: withCheck ? check : null }));
    const env = { ...process.env, ...blas.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
    const children = Array.from({ length: copies }, () => spawn(PYTHON, [join(ROOT, 'bench', 'peers', 'lm_peer.py'), job], { env, stdio: ['ignore', 'pipe', 'inherit'] }));
    return Promise.all(
      children.map(
        (child) =>
          new Promise<Record<string, number | string | number[]>[]>((done, fail) => {
            let out = '';
            child.stdout!.on('data', (d) => (out += d));
            child.on('exit', (code) => (code === 0 ? done(out.trim().split('\n').map((l) => JSON.parse(l))) : fail(new Error(`the peer exited with code ${code}`))));
          }),
      ),
    );
  };
  for (const [threads, copies] of [[1, 1], [2, 1], [1, 2]] as const) {
    const outputs = await runPeer(threads, copies, threads === 1 && copies === 1);
    const label = copies > 1 ? `${copies} processes of 1 thread` : `${threads} thread${threads > 1 ? 's' : ''}`;
    for (const r of outputs[0]) {
      if (r.peer) console.log(`peer (${label}): PyTorch ${r.torch}, OpenBLAS kernel ${r.openblas_core}`);
      if (r.check) console.log(`peer logits against ONNX (${r.check}): max |difference| ${(r.max_abs_diff as number).toExponential(2)}`);
    }
    for (const tokens of TOKENS) {
      // Side by side, each process's evaluations overlap the other's: per evaluation, half its time.
      const perEval = median(outputs.map((o) => o.find((r) => r.tokens === tokens)!.seconds_per_eval as number)) / copies;
      const values = outputs[0].find((r) => r.tokens === tokens)!.values as number[];
      const ours = project.get(tokens)!.values;
      const worst = Math.max(...ours.map((v, i) => Math.abs(v - values[i]) / Math.abs(v)));
      console.log(`peer, ${tokens} tokens, ${label}: ${perEval.toFixed(3)} s/eval; its KL values differ from the project's by at most ${(100 * worst).toExponential(2)}%`);
      const key = `${tokens}/${threads * copies}`;
      peer.set(key, Math.min(peer.get(key) ?? Infinity, perEval));
    }
  }
  const peerOffspring = new Map<number, number>();
  if (searchCases.length > 0) {
    const [outputs] = await runPeer(1, 1, false, { genomes: offspring, warmUp: [...warmUp, parent], cases: searchCases });
    for (const tokens of searchTokens) {
      const r = outputs.find((o) => o.tokens === tokens)!;
      const ours = inSearch.get(tokens)!.values;
      const worst = Math.max(...ours.map((v, i) => Math.abs(v - (r.values as number[])[i]) / Math.abs(v)));
      peerOffspring.set(tokens, r.seconds_per_eval as number);
      console.log(`peer, ${tokens} tokens, the same offspring, 1 thread: ${(r.seconds_per_eval as number).toFixed(3)} s/eval; KL values differ by at most ${(100 * worst).toExponential(2)}%`);
    }
  }
  // Level databases, every level of every layer, from scratch, by both.
  const builds: { label: string; project: Map<number, number>; peer: Map<number, number> }[] = [];
  const random19M = writeRandomGpt2(join(ROOT, 'results', 'models', 'random-gpt2-6x512'), MODEL, GPT2_6X512);
  for (const [label, model, compression] of !BUILDS ? [] : [
    ['SparseGPT 60% database of the reference LM', MODEL, { type: 'sparsity', method: 'sparsegpt', target: 0.6 }],
    ['GPTQ database (2–8 bits, group 128) of the reference LM', MODEL, { type: 'quantization', method: 'gptq', target: 3 }],
    ['SparseGPT 60% database of a random 6 × 512 GPT-2 (19M)', random19M, { type: 'sparsity', method: 'sparsegpt', target: 0.6 }],
  ] as const) {
    builds.push({ label, ...(await compareBuild(dir, model, compression, blas.env)) });
  }

  console.log('\n| case | project s/eval | peer s/eval (2 cores: its better setting) | project/peer (below 1: the project is faster) |\n|---|---|---|---|');
  for (const tokens of TOKENS) {
    for (const cores of [1, 2]) {
      const ours = cores === 1 ? project.get(tokens)!.one : project.get(tokens)!.two;
      const theirs = peer.get(`${tokens}/${cores}`)!;
      console.log(`| reference LM, ${tokens.toLocaleString('en')} tokens, ${cores} core${cores > 1 ? 's' : ''} | ${ours.toFixed(3)} | ${theirs.toFixed(3)} | ${(ours / theirs).toFixed(2)} |`);
    }
  }
  for (const tokens of searchTokens) {
    const ours = inSearch.get(tokens)!.seconds;
    const theirs = peerOffspring.get(tokens)!;
    console.log(`| reference LM, ${tokens.toLocaleString('en')} tokens, offspring of a scored parent (prefix reuse), 1 core | ${ours.toFixed(3)} | ${theirs.toFixed(3)} | ${(ours / theirs).toFixed(2)} |`);
  }
  for (const { label, project: ours, peer: theirs } of builds) {
    for (const cores of [1, 2]) {
      const peerSeconds = cores === 1 ? theirs.get(1)! : Math.min(theirs.get(1)!, theirs.get(2)!);
      console.log(`| ${label}, ${cores} core${cores > 1 ? 's' : ''} (seconds) | ${ours.get(cores)!.toFixed(1)} | ${peerSeconds.toFixed(1)} | ${(ours.get(cores)! / peerSeconds).toFixed(2)} |`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
