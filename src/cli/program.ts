import { Command, Option, InvalidArgumentError } from 'commander';
import { randomBytes } from 'node:crypto';
import { UserError } from '../errors.js';
import { CandidateError } from '../pool/evaluator.js';
import { Store, storageError } from '../store/store.js';
import { createRun, type RunOutcome } from '../engine/engine.js';
import { createSweep, loadSweep, sweepRun, sweepRunId } from '../engine/sweep.js';
import { defaultWorkers } from '../pool/pool.js';
import { exportFormat, formatResult, loadExperimentOfRun, runResult, type ExportFormat } from '../export/result.js';
import { exportWeights, type WeightsFormat } from '../export/weights.js';
import { runStudentConfig, writeCnnStudent, writeStudent } from '../export/student.js';
import { DistillFitness, distillFitnessSchema } from '../fitness/distill.js';
import { TrainFitness, trainFitnessSchema } from '../fitness/train.js';
import { loadPictures } from '../data/fashion.js';
import { initTensorflow } from '../runtime/tfjs.js';
import { createReporter, type ProgressMode } from './progress.js';
import { executeRun, type Executor } from './execute.js';
import { addWorkerCommand, showExecutor, withRemoteOptions, type RemoteFlags } from './worker.js';
import { checkOutPath, makeOutDir, writeOut } from './output.js';
import { SEARCH_STATE_SINCE, VERSION, resumableSearchState } from '../version.js';
import { buildDatabaseCommand, describeManifest, loadExperiment } from './db.js';
import { readManifest, runDatabase } from '../compress/manifest.js';
import { databaseBlockInfluence, databaseOutlierRatios } from '../compress/layer-statistics.js';
import type { OutlierScope } from '../compress/outliers.js';
import { formatHeldOut, hasHeldOut, heldOutComparison, type HeldOutRow } from '../export/heldout.js';
import { collectReport, renderReport } from '../export/report.js';
import type { Experiment } from '../engine/experiment.js';
import { BASELINE_METHODS, baselineStrategy, strategySpaceProblem, type BaselineMeasurements, type BaselineMethod } from '../strategies/index.js';
import type { Backend } from '../models/runner.js';
import type { Device } from '../runtime/onnx.js';

const DEFAULT_DB = 'results/evosearch.db';

/** Throws a one-line user error; usable where an expression is expected. */
const fail = (message: string): never => {
  throw new UserError(message);
};

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
};

const runIdArgument = (value: string) => {
  if (value.trim() === '') throw new InvalidArgumentError('expected a non-empty run id');
  return value;
};

interface Common extends RemoteFlags {
  db: string;
  json?: boolean;
}

const progressMode = (opts: { json?: boolean }): ProgressMode => (opts.json ? 'none' : process.stderr.isTTY ? 'bar' : 'lines');
const print = (text: string): void => {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
};

function newRunId(name: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${name.replace(/[^A-Za-z0-9_.-]+/g, '_')}-${stamp}-${randomBytes(2).toString('hex')}`;
}

async function runAndReport(store: Store, runId: string, experiment: Experiment, workers: number | undefined, opts: Common & { out?: string; quiet?: boolean }): Promise<RunOutcome['status']> {
  const executor: Executor = opts.redis ? { redis: opts.redis, queue: opts.queue, waitSeconds: opts.redisWait } : { workers: workers ?? experiment.workers ?? defaultWorkers() };
  store.acquireLock(runId);
  if (!opts.json) process.stderr.write(`run ${runId} (${experiment.strategy.type}, ${showExecutor(executor)}, ${experiment.fitness.type} fitness${describeBackend(experiment)}) in ${store.file}\n`);
  const outcome = await executeRun(store, runId, experiment, executor, createReporter(progressMode(opts)));
  const result = outcome.checkpoint.bestGenome ? runResult(store, runId) : null;
  if (opts.out && result) writeOut(opts.out, formatResult(result, exportFormat(opts.out)));
  if (opts.quiet) return outcome.status;
  const heldOut = outcome.status === 'finished' && result && hasHeldOut(experiment) ? await heldOutComparison(experiment, result) : null;
  if (opts.json) {
    print(JSON.stringify({ runId, status: outcome.status, result, heldOut }));
  } else if (outcome.status === 'interrupted') {
    print(`interrupted at step ${outcome.checkpoint.step}; continue with: ${resumeCommand(runId, store.file)}${opts.redis ? ' --redis <url>' : ''}`);
  } else {
    print(`finished ${runId}: best fitness ${result?.fitness} at cost ${result?.cost} after ${outcome.checkpoint.evaluations} evaluations`);
    const v = result?.validation;
    if (v) print(`validated: ${v.fitness} on ${v.slices} held-back slices, the best of ${v.finalists} finalists`);
    if (opts.out) print(`wrote ${opts.out}`);
    if (heldOut) print(formatHeldOut(experiment, heldOut));
  }
  return outcome.status;
}

/**
 * Runs a sweep's budgets in order from where it stands: finished runs are kept, a stopped one is
 * resumed, the next one is created from the previous best. Stops at the first run interrupted.
 */
async function continueSweep(store: Store, sweepId: string, workers: number | undefined, opts: Common): Promise<void> {
  const points = loadSweep(store, sweepId).sweep;
  for (let i = 0; i < points.length; i++) {
    const runId = sweepRun(store, sweepId, i);
    if (store.requireRun(runId).status === 'finished') continue;
    if (!opts.json) process.stderr.write(`sweep ${sweepId}: budget ${points[i].value} (${i + 1}/${points.length})\n`);
    const status = await runAndReport(store, runId, await openStoredRun(store, runId), workers, { ...opts, quiet: true });
    if (status !== 'finished') {
      if (opts.json) print(JSON.stringify({ sweepId, status }));
      else print(`interrupted at budget ${points[i].value}; continue with: ${resumeCommand(sweepId, store.file)}${opts.redis ? ' --redis <url>' : ''}`);
      return;
    }
  }
  const front = points.map((p) => {
    const result = runResult(store, sweepRunId(sweepId, p.value));
    return { budget: p.value, runId: result.runId, cost: result.cost, fitness: result.fitness, validation: result.validation?.fitness ?? null };
  });
  if (opts.json) return print(JSON.stringify({ sweepId, status: 'finished', front }));
  print(`finished sweep ${sweepId}:`);
  print(['budget\trun\tcost\tfitness\tvalidated', ...front.map((f) => `${f.budget}\t${f.runId}\t${f.cost}\t${f.fitness}\t${f.validation ?? '-'}`)].join('\n'));
}

/** A sweep's status: finished when every budget's run is; its step counts the steps of all its runs. */
function printSweepStatus(store: Store, sweepId: string, opts: Common): void {
  const points = loadSweep(store, sweepId).sweep;
  const runs = points.map((p) => {
    const runId = sweepRunId(sweepId, p.value);
    const run = store.getRun(runId);
    const checkpoint = run ? store.getCheckpoint(runId) : null;
    return { budget: p.value, runId, status: run?.status ?? 'pending', step: checkpoint?.step ?? 0, bestFitness: checkpoint?.bestFitness ?? null };
  });
  const stopped = runs.find((r) => r.status !== 'finished' && r.status !== 'pending');
  const status = runs.every((r) => r.status === 'finished') ? 'finished' : (stopped?.status ?? 'interrupted');
  const summary = { id: sweepId, sweep: true, status, step: runs.reduce((sum, r) => sum + r.step, 0), runs, resume: status === 'finished' || status === 'running' ? null : resumeCommand(sweepId, store.file) };
  if (opts.json) return print(JSON.stringify(summary));
  print([`id: ${sweepId} (a sweep of ${points.length} budgets)`, `status: ${status}`, ...runs.map((r) => `  ${r.budget}: ${r.runId} ${r.status}, step ${r.step}, best ${r.bestFitness ?? '-'}`), ...(summary.resume ? [`resume: ${summary.resume}`] : [])].join('\n'));
}

const SWEEP_OUT = '--out: a sweep has one configuration per budget; export each with evosearch export <sweep>@<budget>';

/** --sweep 0.5,0.6 or --sweep "1/10,1/5": numbers where they read as numbers. */
const sweepList = (value: string): (number | string)[] => value.split(',').map((v) => v.trim()).map((v) => (v !== '' && Number.isFinite(Number(v)) ? Number(v) : v));

const numberList = (value: string): number[] => {
  const list = value.split(',').map(Number);
  if (list.some((n) => !Number.isFinite(n) || n < 0)) throw new InvalidArgumentError('expected comma-separated non-negative numbers');
  return list;
};

/** What a baseline needs measured on the experiment's model and level database first (with progress on stderr). */
async function measureForBaseline(method: BaselineMethod, experiment: Experiment, opts: { owlM: number[]; owlLambda: number[]; owlScope: OutlierScope; json?: boolean }): Promise<BaselineMeasurements> {
  if (method !== 'owl' && method !== 'block-influence') return {};
  if (!('database' in experiment.fitness)) throw new UserError(`${experiment.source}: space: ${method} needs a level database ("space": {"database": "<config>"})`);
  const manifest = readManifest(experiment.fitness.database);
  const model = experiment.fitness.model;
  const progress = (done: number, total: number) => {
    if (!opts.json) process.stderr.write(`\r${method}: calibration sample ${done}/${total}${done === total ? '\n' : ''}`);
  };
  try {
    if (method === 'owl') return { owl: { outliers: await databaseOutlierRatios(manifest, model, opts.owlM, opts.owlScope, progress), lambdas: opts.owlLambda } };
    return { influence: await databaseBlockInfluence(manifest, model) };
  } catch (err) {
    if (err instanceof UserError) throw new UserError(`${experiment.source}: space: ${err.message}`);
    throw err;
  }
}

/** The command that continues a run, as the README gives it. */
const resumeCommand = (runId: string, db: string) => `npx evosearch resume ${runId} --db ${db}`;

/**
 * A stored run, ready to resume or to run its model again: its level database is the one it was
 * made with (kept aside if a changed config has replaced it since) and still fits its model.
 */
async function openStoredRun(store: Store, runId: string): Promise<Experiment> {
  const experiment = loadExperimentOfRun(store, runId);
  if ('database' in experiment.fitness) experiment.fitness.database = await runDatabase(runId, experiment.fitness);
  return experiment;
}

/** " on onnx (cpu)" for a language-model run, " on onnx" for a LayersModel run, "" for a run without a model. */
function describeBackend(e: Experiment): string {
  if (!('backend' in e.fitness)) return '';
  return ` on ${e.fitness.backend}${'device' in e.fitness ? ` (${e.fitness.device})` : ''}`;
}

/** --backend / --device, checked before anything is built, so that a typo is one line and costs nothing. */
function backendFlags(opts: { backend?: string; device?: string }): { backend?: Backend; device?: Device } {
  if (opts.backend !== undefined && opts.backend !== 'onnx' && opts.backend !== 'tfjs') throw new UserError(`--backend: expected onnx or tfjs, got "${opts.backend}"`);
  if (opts.device !== undefined && opts.device !== 'cpu' && opts.device !== 'cuda' && opts.device !== 'webgpu') {
    throw new UserError(`--device: expected cpu, cuda or webgpu, got "${opts.device}"`);
  }
  return { backend: opts.backend as Backend | undefined, device: opts.device as Device | undefined };
}

function applyBackend(experiment: Experiment, flags: { backend?: Backend; device?: Device }): void {
  if (flags.backend === undefined && flags.device === undefined) return;
  const { source, fitness } = experiment;
  if (!('backend' in fitness)) throw new UserError(`--backend/--device: ${source}: fitness.type: ${fitness.type} fitness, which runs no model`);
  if (flags.device !== undefined && !('device' in fitness)) {
    throw new UserError(`--device: ${source}: fitness.type: ${fitness.type} fitness runs on the CPU; --device chooses a language model's device (kl, kl-topk, ppl)`);
  }
  fitness.backend = flags.backend ?? fitness.backend;
  if ('device' in fitness) fitness.device = flags.device ?? fitness.device;
}

/** Runs `fn` on the store; `writable` for the commands that write (run, resume), so that a read-only file is refused before they start. */
async function withStore<T>(file: string, options: { mustExist: boolean; writable?: boolean }, fn: (store: Store) => T | Promise<T>): Promise<T> {
  const store = Store.open(file, options);
  try {
    return await fn(store);
  } catch (err) {
    throw storageError(err, file) ?? err; // a disk that fills up or a folder made read-only mid-run
  } finally {
    store.close();
  }
}

/**
 * Commander's own errors (an unknown option, a missing argument) as our one line, with where to
 * look instead of the whole help text.
 */
function oneLineErrors(command: Command): void {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  command.configureOutput({
    outputError: (text, write) => write(`evosearch: error: ${text.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')} (see ${names.join(' ')} --help)\n`),
  });
  for (const sub of command.commands) oneLineErrors(sub);
}

export function buildProgram(): Command {
  const program = new Command('evosearch')
    .description('Evolutionary search of per-layer compression configurations')
    .version(VERSION)
    .option('--debug', 'print stack traces on errors');
  const dbOption = () => new Option('--db <file>', 'SQLite database').default(DEFAULT_DB);
  /** A command about one stored run: its id and the database it is in. */
  const runCommand = (name: string, description: string) =>
    program.command(name).description(description).argument('<run-id>', 'the run (see evosearch list)', runIdArgument).addOption(dbOption());

  withRemoteOptions(program.command('run'))
    .description('launch a search experiment from a JSON file')
    .argument('<experiment>', 'experiment JSON file')
    .addOption(dbOption())
    .option('--run-id <id>', 'id of the new run (default: <name>-<time>-<random>)', runIdArgument)
    .option('--workers <n>', 'worker threads (default: experiment.workers, else the number of cores)', positiveInt)
    .option('--out <file>', 'also export the best configuration here when done (.json, .csv or .txt)')
    .option('--backend <name>', 'model evaluation: onnx (onnxruntime, default) or tfjs (TensorFlow.js)')
    .option('--device <name>', 'onnx execution provider: cpu (default), cuda or webgpu')
    .option('--sweep <budgets>', 'one search per budget, comma-separated, each from the previous best (replaces the experiment\'s "sweep")', sweepList)
    .option('--json', 'machine-readable output on stdout, no progress')
    .action(async (file: string, opts: Common & { runId?: string; workers?: number; out?: string; backend?: string; device?: string; sweep?: (number | string)[] }) => {
      const flags = backendFlags(opts);
      if (opts.out) checkOutPath(opts.out);
      const experiment = await loadExperiment(file, Boolean(opts.json), opts.sweep);
      applyBackend(experiment, flags);
      if (experiment.sweep && opts.out) throw new UserError(SWEEP_OUT);
      const runId = opts.runId ?? newRunId(experiment.name);
      await withStore(opts.db, { mustExist: false, writable: true }, async (store) => {
        if (experiment.sweep) {
          createSweep(store, runId, experiment);
          return continueSweep(store, runId, opts.workers, opts);
        }
        createRun(store, runId, experiment);
        await runAndReport(store, runId, loadExperimentOfRun(store, runId), opts.workers, opts); // what resume will replay
      });
    });

  withRemoteOptions(program.command('baseline'))
    .description(`a per-layer heuristic on an experiment's space and budget, stored as a run (${BASELINE_METHODS.join(', ')})`)
    .argument('<method>', `${BASELINE_METHODS.join(' | ')}`, (value: string) => (BASELINE_METHODS as readonly string[]).includes(value) ? (value as BaselineMethod) : fail(`baseline: <method>: expected ${BASELINE_METHODS.join(', ')}, got "${value}"`))
    .argument('<experiment>', 'experiment JSON file: its space, fitness and seed; its strategy only sets the fidelity budget')
    .addOption(dbOption())
    .option('--run-id <id>', 'id of the new run (default: <name>-<method>-<time>-<random>)', runIdArgument)
    .option('--workers <n>', 'worker threads (default: experiment.workers, else the number of cores)', positiveInt)
    .option('--out <file>', 'also export the configuration here when done (.json, .csv or .txt)')
    .option('--owl-m <list>', 'owl: outlier multipliers M to try, comma-separated', numberList, [3, 5, 7, 10])
    .option('--owl-lambda <list>', 'owl: sparsity band half-widths λ to try, comma-separated', numberList, [0.02, 0.05, 0.08, 0.1, 0.2])
    .addOption(new Option('--owl-scope <scope>', 'owl: an outlier against its layer\'s mean score, or its transformer block\'s (OWL\'s code)').choices(['layer', 'block']).default('layer'))
    .option('--json', 'machine-readable output on stdout, no progress')
    .action(async (method: BaselineMethod, file: string, opts: Common & { runId?: string; workers?: number; out?: string; owlM: number[]; owlLambda: number[]; owlScope: OutlierScope }) => {
      if (opts.out) checkOutPath(opts.out);
      const experiment = await loadExperiment(file, Boolean(opts.json));
      experiment.name = `${experiment.name}-${method}`;
      experiment.sweep = undefined; // a baseline runs at the experiment's own budget
      experiment.strategy = baselineStrategy(method, experiment.strategy, await measureForBaseline(method, experiment, opts));
      const unsuitable = strategySpaceProblem(experiment.strategy, experiment.space);
      if (unsuitable) throw new UserError(`${file}: space: ${unsuitable}`);
      const runId = opts.runId ?? newRunId(experiment.name);
      await withStore(opts.db, { mustExist: false, writable: true }, async (store) => {
        createRun(store, runId, experiment);
        await runAndReport(store, runId, loadExperimentOfRun(store, runId), opts.workers, opts);
      });
    });

  withRemoteOptions(runCommand('resume', 'continue an interrupted run from its last checkpoint'))
    .option('--workers <n>', 'worker threads', positiveInt)
    .option('--out <file>', 'also export the best configuration here when done')
    .option('--json', 'machine-readable output')
    .action(async (runId: string, opts: Common & { workers?: number; out?: string }) => {
      if (opts.out) checkOutPath(opts.out);
      await withStore(opts.db, { mustExist: true, writable: true }, async (store) => {
        if (store.getSweep(runId)) {
          if (opts.out) throw new UserError(SWEEP_OUT);
          return continueSweep(store, runId, opts.workers, opts);
        }
        const run = store.requireRun(runId);
        if (!resumableSearchState(run.version)) {
          throw new UserError(`run "${runId}" was made by evosearch ${run.version}; evosearch ${VERSION} cannot continue its search exactly (search states changed in ${SEARCH_STATE_SINCE}): export what it found, or start it anew with evosearch run`);
        }
        const experiment = await openStoredRun(store, runId);
        if (run.status === 'finished' && !opts.json) print(`run ${runId} already finished`);
        await runAndReport(store, runId, experiment, opts.workers, opts);
      });
    });

  program
    .command('list')
    .description('list runs')
    .addOption(dbOption())
    .option('--json', 'machine-readable output')
    .action(async (opts: Common) => {
      await withStore(opts.db, { mustExist: true }, (store) => {
        const runs = store.listRuns();
        if (opts.json) return print(JSON.stringify(runs));
        if (runs.length === 0) return print('no runs');
        print(['id\tstatus\tstrategy\tgeneration\tevaluations\tbest', ...runs.map((r) => `${r.id}\t${r.status}\t${r.strategy}\t${r.generation}\t${r.evaluations}\t${r.bestFitness ?? '-'}`)].join('\n'));
        const stopped = runs.filter((r) => r.status === 'interrupted' || r.status === 'failed');
        if (stopped.length) print(`continue a stopped run with: ${resumeCommand(stopped.length === 1 ? stopped[0].id : '<id>', store.file)}`);
      });
    });

  runCommand('status', 'show one run')
    .option('--json', 'machine-readable output')
    .action(async (runId: string, opts: Common) => {
      await withStore(opts.db, { mustExist: true }, (store) => {
        if (store.getSweep(runId)) return printSweepStatus(store, runId, opts);
        const run = store.requireRun(runId);
        const checkpoint = store.getCheckpoint(runId);
        const experiment = loadExperimentOfRun(store, runId);
        const status = {
          id: run.id,
          name: run.name,
          strategy: run.strategy,
          status: run.status,
          message: run.message,
          step: checkpoint.step,
          generation: checkpoint.generation,
          evaluations: checkpoint.evaluations,
          bestFitness: checkpoint.bestFitness,
          wallSeconds: checkpoint.wallMs / 1000,
          createdAt: run.createdAt,
          updatedAt: run.updatedAt,
          source: experiment.source,
          fitness: `${experiment.fitness.type}${describeBackend(experiment)}`,
          resume: run.status === 'interrupted' || run.status === 'failed' ? resumeCommand(run.id, store.file) : null,
        };
        if (opts.json) return print(JSON.stringify(status));
        print(Object.entries(status).map(([k, v]) => `${k}: ${v ?? '-'}`).join('\n'));
      });
    });

  runCommand('export', 'export the best per-layer configuration of a run, or the model with it stitched in')
    .addOption(new Option('--format <format>', 'json, csv, evopress ("layer: level" lines), the compressed model: tfjs (LayersModel) or safetensors (Hugging Face), or an architecture run\'s student: hf-config; default: from the --out extension (.json, .csv, .txt), else json').choices(['json', 'csv', 'evopress', 'tfjs', 'safetensors', 'hf-config']))
    .option('--out <path>', 'write here instead of stdout (a directory for tfjs, safetensors and hf-config)')
    .option('--train-steps <n>', 'hf-config: also train the student this many steps by distillation from the teacher and write model.safetensors', positiveInt)
    .action(async (runId: string, opts: Common & { format?: ExportFormat | WeightsFormat | 'hf-config'; out?: string; trainSteps?: number }) => {
      await withStore(opts.db, { mustExist: true }, async (store) => {
        const result = runResult(store, runId);
        const stored = loadExperimentOfRun(store, runId);
        const genome = result.units.map((u) => u.level);
        const outDir = () => opts.out ?? fail(`--format ${opts.format}: give the directory to write with --out DIR`);
        const cnnStudent = opts.format === 'tfjs' && stored.space.architecture?.family === 'cnn';
        if (opts.trainSteps !== undefined && opts.format !== 'hf-config' && !cnnStudent) throw new UserError('--train-steps: only with --format hf-config (a GPT-2 student) or --format tfjs (a CNN student)');
        if (cnnStudent) {
          const out = outDir();
          if (opts.trainSteps === undefined) throw new UserError(`--format tfjs: run "${runId}" searched CNN students, whose weights come from training: give --train-steps N`);
          const spec = stored.fitness.type === 'train' ? stored.fitness : trainFitnessSchema.parse({ type: 'train' });
          const fitness = await TrainFitness.load(spec, { space: stored.space, seed: stored.seed });
          const started = Date.now();
          const { shape, weights } = fitness.trainStudent(genome, opts.trainSteps);
          print(`trained ${opts.trainSteps} steps in ${((Date.now() - started) / 1000).toFixed(0)} s; accuracy on Fashion-MNIST's test set ${(100 * fitness.accuracy(shape, weights, loadPictures('heldOut'))).toFixed(2)}%`);
          makeOutDir(out);
          print(`wrote ${await writeCnnStudent((await initTensorflow()).tf, out, shape, weights)}`);
          fitness.close();
          return;
        }
        if (opts.format === 'hf-config') {
          const out = outDir();
          const config = runStudentConfig(runId, stored, genome);
          let weights = null;
          if (opts.trainSteps !== undefined) {
            // The run's own distillation settings when it had them, so the export trains as the search did.
            const spec = stored.fitness.type === 'distill' ? stored.fitness : distillFitnessSchema.parse({ type: 'distill' });
            const fitness = await DistillFitness.load(spec, { space: stored.space, seed: stored.seed });
            const started = Date.now();
            weights = fitness.train(genome, opts.trainSteps).weights;
            const heldOut = fitness.heldOut(config, weights);
            print(`trained ${opts.trainSteps} steps in ${((Date.now() - started) / 1000).toFixed(0)} s; held-out KL to the teacher ${heldOut.kl.toFixed(4)}, perplexity ${heldOut.perplexity.toFixed(3)} per character`);
            fitness.close();
          }
          makeOutDir(out);
          print(`wrote ${writeStudent(out, config, stored.space.architecture!.teacher.path, weights, runId).join(', ')}`);
          return;
        }
        if (opts.format === 'tfjs' || opts.format === 'safetensors') {
          const out = outDir();
          const experiment = await openStoredRun(store, runId);
          makeOutDir(out);
          const files = exportWeights(runId, experiment, genome, opts.format, out);
          print(`wrote ${files.join(', ')}`);
          // What the exported model does on data the search never saw (accuracy for a classifier).
          if (hasHeldOut(experiment)) print(formatHeldOut(experiment, await heldOutComparison(experiment, result)));
          return;
        }
        const text = formatResult(result, exportFormat(opts.out, opts.format as ExportFormat | undefined));
        if (opts.out) writeOut(opts.out, text);
        else process.stdout.write(text);
      });
    });

  runCommand('heldout', 'compare a run\'s best configuration with uniform compression on held-out data (language models, images)')
    .option('--json', 'machine-readable output')
    .action(async (runId: string, opts: Common) => {
      const [experiment, rows]: [Experiment, HeldOutRow[]] = await withStore(opts.db, { mustExist: true }, async (store) => {
        const experiment = await openStoredRun(store, runId);
        if (!hasHeldOut(experiment)) throw new UserError(`run "${runId}" has ${experiment.fitness.type} fitness, which runs no model: nothing to compare on held-out data`);
        return [experiment, await heldOutComparison(experiment, runResult(store, runId))];
      });
      print(opts.json ? JSON.stringify(rows) : formatHeldOut(experiment, rows));
    });

  program
    .command('report')
    .description('one self-contained HTML page on runs: progress charts, the levels chosen, held-out metrics, provenance')
    .argument('<run-id...>', 'the runs (see evosearch list)')
    .addOption(dbOption())
    .requiredOption('--out <file>', 'the HTML file to write, e.g. results/report.html')
    .option('--title <text>', 'the page title', 'evosearch report')
    .option('--no-heldout', 'leave out the held-out measurements (they run each model)')
    .action(async (runIds: string[], opts: Common & { out: string; title: string; heldout: boolean }) => {
      if (!/\.html?$/.test(opts.out)) throw new UserError(`--out: ${opts.out}: expected an .html file`);
      checkOutPath(opts.out);
      const html = await withStore(opts.db, { mustExist: true }, async (store) => {
        const runs = await collectReport(store, runIds, opts.heldout);
        return renderReport(runs, { title: opts.title, version: VERSION, db: store.file, createdAt: new Date().toISOString() });
      });
      writeOut(opts.out, html);
      print(`wrote ${opts.out}`);
    });

  const db = program.command('db').description('level databases: every compressed variant of every layer');
  db.command('build')
    .description('build (or reuse, when up to date) the level database a config describes')
    .argument('<config>', 'database config JSON file')
    .option('--threads <n>', 'SparseGPT and GPTQ layers compressed at once, each on a thread (default: one per core); the bytes built do not depend on it', positiveInt)
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: { json?: boolean; threads?: number }) => {
      const { manifest, reused, dir } = await buildDatabaseCommand(file, Boolean(opts.json), opts.threads);
      if (opts.json) return print(JSON.stringify({ dir, reused, units: manifest.units.length, budget: manifest.budget, dense: manifest.dense ?? null }));
      print(`${reused ? 'reused' : `built in ${manifest.buildSeconds.toFixed(1)} s`} ${dir}: ${describeManifest(manifest)}`);
    });

  addWorkerCommand(program);
  oneLineErrors(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    const e = err as Error & { code?: string; exitCode?: number };
    if (e.code?.startsWith('commander.')) return e.exitCode ?? 1; // commander already printed it
    const debug = argv.includes('--debug');
    if (e instanceof UserError || e instanceof CandidateError) {
      process.stderr.write(`evosearch: error: ${e.message}\n`);
    } else {
      process.stderr.write(`evosearch: internal error: ${e.message}${debug ? '' : ' (run with --debug for the stack trace)'}\n`);
    }
    if (debug) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}
