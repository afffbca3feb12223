/**
 * `npm run bench:peers`: evosearch's KL fitness against EvoPress's evaluation in PyTorch
 * (bench/peers/lm_peer.py, Debian's python3-torch, installed if missing), on the same model, the
 * same level database, the same windows and the same configurations, on 1 and on 2 cores (whole
 * passes: random configurations share no prefix), for the reference LM (its SparseGPT 60%
 * database) and a random 19M-parameter GPT-2 (a magnitude database of it); a generation's
 * offspring of a scored parent, where the project's prefix reuse applies and the peer runs whole
 * passes; and level databases built by both from scratch (SparseGPT and GPTQ of the reference LM,
 * SparseGPT of the 19M model); and whole searches, EvoPress's loop in PyTorch against the
 * project's evopress on the reference LM, timed to the peer's final held-out KL. The peer's logits
 * are checked against ONNX's first. Prints one table of seconds per evaluation (medians), build
 * seconds, search seconds and project/peer ratios, from one run. `--tokens 2048,16384`,
 * `--models reference,19m`, `--skip-builds`, `--search-seeds 1,2` (or `none`) and
 * `--search-generations 30` run a part.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LmFitness, type LmFitnessSpec } from '../../fitness/lm.js';
import { readManifest, spaceFromManifest } from '../../compress/manifest.js';
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
import { searchRun } from './lm.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const PYTHON = '/usr/bin/python3'; // Debian's, where python3-torch installs
const MODEL = join(ROOT, 'models', 'reference-lm');
const DATABASE = join(ROOT, 'results', 'db', 'reference-lm-sparsegpt-60');
const LENGTH = 128;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const argv = process.argv.slice(2);
const TOKENS = argv.includes('--tokens') ? argv[argv.indexOf('--tokens') + 1].split(',').map(Number) : [2048, 16384, 65536];
/** `--skip-builds`: the fitness rows alone. */
const BUILDS = !argv.includes('--skip-builds');
/** `--models reference,19m` (both by default): whose evaluations are timed. */
const SIZES = argv.includes('--models') ? argv[argv.indexOf('--models') + 1].split(',') : ['reference', '19m'];
/** `--search-seeds 1,2,3`: the seeds of the whole-search rows (none: `--search-seeds none`). */
const SEARCH_SEEDS = argv.includes('--search-seeds') ? argv[argv.indexOf('--search-seeds') + 1].split(',').filter((s) => s !== 'none').map(Number) : [1, 2, 3];
/** `--search-generations 30`: how long the peer searches; the project gets up to twice as many generations to reach the peer's result. */
const SEARCH_GENERATIONS = argv.includes('--search-generations') ? Number(argv[argv.indexOf('--search-generations') + 1]) : 30;

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

function randomGenomes(space: Space, count: number, rng = Rng.fromSeed('bench-peers')): Genome[] {
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

/** A model and a level database of it whose evaluations both sides time. */
interface FitnessCase {
  label: string;
  model: string;
  database: string;
  tokens: number[];
  /** Configurations timed on one core (twice as many on two), and configurations that warm the workers first. */
  timed: number;
  warmUp: number;
}

const specFor = (c: FitnessCase, windows: number): LmFitnessSpec => ({
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
  database: c.database,
  model: c.model,
});

const spaceOf = (database: string): Space => spaceFromManifest(readManifest(database));

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
async function projectTwoCores(spec: LmFitnessSpec, space: Space, genomes: Genome[]): Promise<number> {
  const pool = new WorkerPool({ fitness: spec, space, seed: 1 }, 2);
  try {
    // Both workers warm, each with (nearly) every window's dense outputs. The pool hands each
    // window to whichever worker is free, so it takes a few requests of configurations new to it:
    // after 6, a worker has missed a given window with odds of about 1 in 64.
    const rng = Rng.fromSeed('bench-peers-warm-up');
    for (let round = 0; round < 6; round++) await pool.evaluate(randomGenomes(space, 2, rng), { budget: 1, slice: 0 });
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
    mkdirSync(join(dir, `${name}-peer-db-${threads}`));
    const [lines] = await runPeer(dir, blasEnv, threads, 1, { model, database: join(dir, `${name}-db-1`), build: { windows: windowsFile, damping: 0.01, out: join(dir, `${name}-peer-db-${threads}`) } });
    const r = lines[lines.length - 1];
    peer.set(threads, r.seconds as number);
    console.log(`peer: the same database (${r.levels} levels, float64 as the project's) in ${(r.seconds as number).toFixed(1)} s, ${threads} thread(s)`);
  }
  return { project, peer };
}
let buildCount = 0;
const CALIBRATION_WINDOWS = 32;

type PeerLine = Record<string, number | string | number[]>;
interface FitnessRow {
  label: string;
  tokens: number;
  cores: number;
  ours: number;
  theirs: number;
}

/** The peer on one job (bench/peers/lm_peer.py), `copies` processes of `threads` threads side by side: each process's JSON lines. */
function runPeer(dir: string, blasEnv: Record<string, string>, threads: number, copies: number, job: object): Promise<PeerLine[][]> {
  const file = join(dir, `job-${jobCount++}.json`);
  writeFileSync(file, JSON.stringify({ length: LENGTH, threads, ...job }));
  const env = { ...process.env, ...blasEnv, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
  const children = Array.from({ length: copies }, () => spawn(PYTHON, [join(ROOT, 'bench', 'peers', 'lm_peer.py'), file], { env, stdio: ['ignore', 'pipe', 'inherit'] }));
  return Promise.all(
    children.map(
      (child) =>
        new Promise<PeerLine[]>((done, fail) => {
          let out = '';
          child.stdout!.on('data', (d) => (out += d));
          child.on('exit', (code) => (code === 0 ? done(out.trim().split('\n').map((l) => JSON.parse(l) as PeerLine)) : fail(new Error(`the peer exited with code ${code}`))));
        }),
    ),
  );
}
let jobCount = 0;

const worstRelative = (ours: number[], theirs: number[]) => Math.max(...ours.map((v, i) => Math.abs(v - theirs[i]) / Math.abs(v)));

/**
 * Seconds per evaluation of random configurations new to warm workers (whole passes: they share
 * no prefix), project against peer, at each token count on 1 and on 2 cores; the peer's 2-core
 * figure is its better setting (one process of 2 threads, or 2 processes of 1 side by side). The
 * peer's logits are checked against ONNX's first, and its KL values against the project's.
 * Returns the rows and the windows files by token count.
 */
async function compareFitness(dir: string, c: FitnessCase, blasEnv: Record<string, string>): Promise<{ rows: FitnessRow[]; windows: Map<number, string> }> {
  const space = spaceOf(c.database);
  // Distinct configurations: the timed ones (twice as many for two workers), then the warm-up ones.
  const all = randomGenomes(space, 2 * c.timed + c.warmUp);
  const [genomes, pairGenomes, warmUp] = [all.slice(0, c.timed), all.slice(0, 2 * c.timed), all.slice(2 * c.timed)];
  const windows = new Map<number, string>();
  const project = new Map<number, { one: number; two: number; values: number[] }>();
  const tag = `${fitnessCount++}`;
  let check: Record<string, unknown> | null = null;
  for (const tokens of c.tokens) {
    const spec = specFor(c, tokens / LENGTH);
    const fitness = await LmFitness.load(spec);
    const pool = Array.from({ length: spec.windows }, (_, i) => fitness.pool[i]);
    const file = join(dir, `windows-${tag}-${tokens}.bin`);
    writeFileSync(file, Buffer.concat(pool.map((w) => Buffer.from(w.buffer, w.byteOffset, w.byteLength))));
    windows.set(tokens, file);
    if (!check) {
      const write = (name: string, a: Uint16Array | Float32Array) => (writeFileSync(join(dir, `${name}-${tag}.bin`), Buffer.from(a.buffer, a.byteOffset, a.byteLength)), join(dir, `${name}-${tag}.bin`));
      const tokensOf = pool[0].subarray(0, LENGTH);
      check = { window: write('window', pool[0]), dense: write('dense', await fitness.logitsOf(null, tokensOf)), candidate: write('candidate', await fitness.logitsOf(genomes[0], tokensOf)), genome: genomes[0] };
    }
    const one = await projectOneCore(fitness, genomes, warmUp);
    await fitness.close();
    const two = await projectTwoCores(spec, space, pairGenomes);
    project.set(tokens, { one: one.seconds, two, values: one.values });
    console.log(`project, ${c.label}, ${tokens} tokens: ${one.seconds.toFixed(3)} s/eval on 1 core, ${two.toFixed(3)} on 2`);
  }
  const cases = c.tokens.map((tokens) => ({ tokens, windows: windows.get(tokens)! }));
  const peer = new Map<string, number>();
  for (const [threads, copies] of [[1, 1], [2, 1], [1, 2]] as const) {
    const outputs = await runPeer(dir, blasEnv, threads, copies, { model: c.model, database: c.database, genomes, warmUp, cases, check: threads === 1 && copies === 1 ? check : null });
    const label = copies > 1 ? `${copies} processes of 1 thread` : `${threads} thread${threads > 1 ? 's' : ''}`;
    for (const r of outputs[0]) {
      if (r.peer) console.log(`peer (${label}): PyTorch ${r.torch}, OpenBLAS kernel ${r.openblas_core}`);
      if (r.check) console.log(`peer logits against ONNX, ${c.label} (${r.check}): max |difference| ${(r.max_abs_diff as number).toExponential(2)}`);
    }
    for (const tokens of c.tokens) {
      // Side by side, each process's evaluations overlap the other's: per evaluation, half its time.
      const perEval = median(outputs.map((o) => o.find((r) => r.tokens === tokens)!.seconds_per_eval as number)) / copies;
      const worst = worstRelative(project.get(tokens)!.values, outputs[0].find((r) => r.tokens === tokens)!.values as number[]);
      console.log(`peer, ${c.label}, ${tokens} tokens, ${label}: ${perEval.toFixed(3)} s/eval; its KL values differ from the project's by at most ${(100 * worst).toExponential(2)}%`);
      const key = `${tokens}/${threads * copies}`;
      peer.set(key, Math.min(peer.get(key) ?? Infinity, perEval));
    }
  }
  const rows = c.tokens.flatMap((tokens) => [1, 2].map((cores) => ({ label: c.label, tokens, cores, ours: cores === 1 ? project.get(tokens)!.one : project.get(tokens)!.two, theirs: peer.get(`${tokens}/${cores}`)! })));
  return { rows, windows };
}
let fitnessCount = 0;

interface SearchRow {
  cores: number;
  seed: number;
  /** The peer's wall time for its generations, and the held-out KL of its last parent (the target). */
  peerSeconds: number;
  target: number;
  /** The project's wall time to its first configuration at or below the target (null: not within its generations). */
  ours: number | null;
  /** Held-out KL of the project's configuration after as many generations as the peer ran. */
  oursAtEqualGenerations: number;
}

/**
 * Whole searches, EvoPress's in PyTorch against the project's evopress (the sparsegpt-60
 * experiment: its offspring, racing stages and windows), on 1 and 2 cores (the project with as
 * many workers, the peer with as many processes), seeds SEARCH_SEEDS, both from the uniform
 * configuration. The peer runs SEARCH_GENERATIONS generations; its last parent's held-out KL (64
 * windows of held-out text, measured by the project's evaluator for both sides) is the target. The
 * project runs twice as many generations, and its time to the target is the wall time at the end
 * of the first generation whose best configuration is at or below it. Both sides' timings include
 * computing the dense outputs of their windows and exclude loading the model.
 */
async function compareSearches(dir: string, blasEnv: Record<string, string>): Promise<SearchRow[]> {
  const rows: SearchRow[] = [];
  // Loaded once the first run names its fitness: the evaluator of held-out KL, and the search windows the peer reads.
  let shared: { fitness: LmFitness; windowsFile: string } | null = null;
  // Held-out KL by configuration: both sides' searches are deterministic, so the 2-core runs meet the 1-core runs' configurations.
  const heldOut = new Map<string, number>();
  const keyOf = (g: number[]) => g.join(',');
  try {
    for (const cores of [1, 2]) {
      for (const seed of SEARCH_SEEDS) {
        const ours = await searchRun(2 * SEARCH_GENERATIONS, cores, seed);
        const strategy = ours.experiment.strategy as { offspring: number; selection: { survivors: number; budget: number }[] };
        const spec = ours.experiment.fitness as LmFitnessSpec;
        if (!shared) {
          const fitness = await LmFitness.load(spec);
          const windowsFile = join(dir, 'search-windows.bin');
          const pool = fitness.pool.slice(0, spec.windows * spec.slices); // the search windows; the validation windows follow them
          writeFileSync(windowsFile, Buffer.concat(pool.map((w) => Buffer.from(w.buffer, w.byteOffset, w.byteLength))));
          shared = { fitness, windowsFile };
        }
        const search = {
          seed,
          windows: shared.windowsFile,
          uniform: readManifest(DATABASE).uniform,
          generations: SEARCH_GENERATIONS,
          offspring: strategy.offspring,
          stages: strategy.selection.map((stage) => ({ survivors: stage.survivors, windows: stage.budget * spec.windows })),
        };
        // On 2 cores, 2 forked processes of 1 thread split each candidate's windows: one process of 2
        // threads runs this model's small products 2–3× slower than 1 thread (the fitness rows show it).
        const [lines] = await runPeer(dir, blasEnv, 1, 1, { model: MODEL, database: DATABASE, search, processes: cores, cases: [] });
        const result = lines.find((line) => 'search' in line)!;
        const peerMarks = result.marks as number[];
        const peerParents = result.parents as unknown as number[][];
        const last = peerParents[peerParents.length - 1];
        const missing = [...new Set([last, ...ours.incumbents].map(keyOf))].filter((k) => !heldOut.has(k));
        const measured = await shared.fitness.measureHeldOut(missing.map((k) => k.split(',').map(Number)));
        missing.forEach((k, i) => heldOut.set(k, measured[i].kl));
        const target = heldOut.get(keyOf(last))!;
        const reached = ours.incumbents.findIndex((g) => heldOut.get(keyOf(g))! <= target);
        const row = {
          cores,
          seed,
          peerSeconds: peerMarks[peerMarks.length - 1],
          target,
          ours: reached < 0 ? null : ours.elapsed[reached],
          oursAtEqualGenerations: heldOut.get(keyOf(ours.incumbents[SEARCH_GENERATIONS - 1]))!,
        };
        console.log(
          `whole search, ${cores} core${cores > 1 ? 's' : ''}, seed ${seed}: the peer's ${SEARCH_GENERATIONS} generations took ${row.peerSeconds.toFixed(1)} s to held-out KL ${target.toFixed(5)}; ` +
            (row.ours === null ? `the project did not reach it in ${2 * SEARCH_GENERATIONS} generations (${ours.seconds.toFixed(1)} s)` : `the project reached it at generation ${reached + 1}, ${row.ours.toFixed(1)} s`) +
            `; the project's KL after ${SEARCH_GENERATIONS} generations: ${row.oursAtEqualGenerations.toFixed(5)}`,
        );
        rows.push(row);
      }
    }
    return rows;
  } finally {
    await shared?.fitness.close();
  }
}

ensurePeer();
ensureDatabase();
const dir = mkdtempSync(join(tmpdir(), 'evosearch-peers-'));
try {
  const blas = fastestBlasCore();
  console.log(`OpenBLAS kernels on a 512² product, 1 thread, GFLOP/s: ${blas.table}; the peer runs with ${blas.env.OPENBLAS_CORETYPE ? `OPENBLAS_CORETYPE=${blas.env.OPENBLAS_CORETYPE}` : 'OpenBLAS\'s own choice'}`);
  const reference: FitnessCase = { label: 'reference LM', model: MODEL, database: DATABASE, tokens: TOKENS, timed: 5, warmUp: 4 };
  const fitnessRows: FitnessRow[] = [];
  const offspringRows: FitnessRow[] = [];
  if (SIZES.includes('reference')) {
    const { rows, windows } = await compareFitness(dir, reference, blas.env);
    fitnessRows.push(...rows);
    // A generation's offspring of a scored parent, where prefix reuse applies (the peer runs whole passes).
    const space = spaceOf(DATABASE);
    const parent = [...readManifest(DATABASE).uniform];
    const offspring = offspringOf(space, parent, reference.timed);
    const warmUp = randomGenomes(space, reference.warmUp);
    const searchTokens = TOKENS.filter((t) => t >= 16384);
    const [outputs] = await runPeer(dir, blas.env, 1, 1, { model: MODEL, database: DATABASE, genomes: offspring, warmUp: [...warmUp, parent], cases: searchTokens.map((tokens) => ({ tokens, windows: windows.get(tokens)! })), check: null });
    for (const tokens of searchTokens) {
      // The parent's streams on every window, with the offspring's beside them.
      const ours = await projectOffspring({ ...specFor(reference, tokens / LENGTH), prefixCacheMiB: 2048 }, parent, offspring, warmUp);
      const theirs = outputs.find((o) => o.tokens === tokens)!;
      console.log(`project, ${tokens} tokens, offspring of a scored parent: ${ours.seconds.toFixed(3)} s/eval on 1 core (prefix reuse skipped ${(100 * ours.skipped).toFixed(0)}% of sub-blocks, parent and warm-up included); peer ${(theirs.seconds_per_eval as number).toFixed(3)}; KL values differ by at most ${(100 * worstRelative(ours.values, theirs.values as number[])).toExponential(2)}%`);
      offspringRows.push({ label: 'reference LM, offspring of a scored parent (prefix reuse)', tokens, cores: 1, ours: ours.seconds, theirs: theirs.seconds_per_eval as number });
    }
  }

  const searchRows = SIZES.includes('reference') ? await compareSearches(dir, blas.env) : [];

  // The 19M model: evaluations are timed on a magnitude database of it (how levels were made does not change an evaluation's cost; it builds in seconds).
  const random19M = writeRandomGpt2(join(ROOT, 'results', 'models', 'random-gpt2-6x512'), MODEL, GPT2_6X512);
  if (SIZES.includes('19m')) {
    const configFile = join(dir, 'magnitude-19m.json');
    writeFileSync(configFile, JSON.stringify({ model: random19M, out: join(dir, 'magnitude-19m'), compression: { type: 'sparsity', method: 'magnitude', target: 0.6 } }));
    await buildDatabase(loadDatabaseConfig(configFile));
    // Fewer configurations, and the search-sized token counts: one evaluation of 65,536 tokens takes
    // minutes here. Four on two workers are split into their windows, as the pool splits a racing
    // stage's last few candidates.
    const large = TOKENS.filter((t) => t >= 16384);
    const tokens = large.length > 0 ? large : TOKENS;
    fitnessRows.push(...(await compareFitness(dir, { label: 'random 6 × 512 GPT-2 (19M)', model: random19M, database: join(dir, 'magnitude-19m'), tokens, timed: 2, warmUp: 1 }, blas.env)).rows);
  }

  // Level databases, every level of every layer, from scratch, by both.
  const builds: { label: string; project: Map<number, number>; peer: Map<number, number> }[] = [];
  for (const [label, model, compression] of !BUILDS ? [] : [
    ['SparseGPT 60% database of the reference LM', MODEL, { type: 'sparsity', method: 'sparsegpt', target: 0.6 }],
    ['GPTQ database (2–8 bits, group 128) of the reference LM', MODEL, { type: 'quantization', method: 'gptq', target: 3 }],
    ['SparseGPT 60% database of a random 6 × 512 GPT-2 (19M)', random19M, { type: 'sparsity', method: 'sparsegpt', target: 0.6 }],
  ] as const) {
    builds.push({ label, ...(await compareBuild(dir, model, compression, blas.env)) });
  }

  console.log('\n| case | project s/eval | peer s/eval (2 cores: its better setting) | project/peer (below 1: the project is faster) |\n|---|---|---|---|');
  for (const r of [...fitnessRows, ...offspringRows]) {
    console.log(`| ${r.label}, ${r.tokens.toLocaleString('en')} tokens, ${r.cores} core${r.cores > 1 ? 's' : ''} | ${r.ours.toFixed(3)} | ${r.theirs.toFixed(3)} | ${(r.ours / r.theirs).toFixed(2)} |`);
  }
  for (const cores of [1, 2]) {
    const rows = searchRows.filter((r) => r.cores === cores);
    if (rows.length === 0) continue;
    // Not reached within twice the peer's generations: an infinite ratio, which the median shows when most seeds miss.
    const ratios = rows.map((r) => (r.ours ?? Infinity) / r.peerSeconds);
    const shown = (r: SearchRow) => (r.ours === null ? 'not reached' : r.ours.toFixed(1));
    console.log(
      `| whole search to the peer's held-out KL after ${SEARCH_GENERATIONS} generations, ${cores} core${cores > 1 ? 's' : ''}, seeds ${rows.map((r) => r.seed).join(', ')} (seconds; median ratio) | ${rows.map(shown).join(' / ')} | ${rows.map((r) => r.peerSeconds.toFixed(1)).join(' / ')} | ${median(ratios).toFixed(2)} |`,
    );
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
