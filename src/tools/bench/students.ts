/**
 * `npm run experiments:students [-- --family lm|fashion]`: students found by search against
 * students designed by hand, under the same size budget and after the same training.
 *
 * lm (default): GPT-2 students of the reference language model at 1/10 of its parameters, each
 * trained by distillation for the same steps, on held-out text (State of the Union 2011–2021):
 *   - the student a `distill` search found (experiments/students/lm-distill.json);
 *   - the `flops`-picked student, Compressor's method (experiments/students/lm-flops.json);
 *   - a hand-scaled student: the teacher's shape (MLP 4× the width, its head count, its
 *     depth-to-width ratio) at the largest width that fits.
 * fashion: CNN students of the clothing classifier at 1/4 of its parameters, trained from labels
 * for the same steps, on Fashion-MNIST's official test set:
 *   - the student a `train` search found (experiments/students/fashion-train.json);
 *   - a hand-designed CNN: the textbook shape (two stages of 3 × 3 convolutions, the second with
 *     twice the channels of the first, then one hidden dense layer), as large as fits.
 * The searches are stored in results/students.db and reused when finished there; each trained
 * student's numbers go to results/students-<family>.json as they come, so an interrupted
 * comparison goes on where it stopped. Options: --steps N, --render (only rewrite the table).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, finishedRun } from './stored-runs.js';
import { DistillFitness, studentConfig } from '../../fitness/distill.js';
import { TrainFitness, cnnShapeOf } from '../../fitness/train.js';
import { SpaceIndex, type Genome } from '../../space/space.js';
import { architectureFlops, architectureParameters, transformerShape, type ConvArchitecture, type TransformerArchitecture } from '../../space/architecture.js';
import { loadTransformer } from '../../models/transformer.js';
import { loadPictures } from '../../data/fashion.js';
import type { Experiment } from '../../engine/experiment.js';

const { values: args } = parseArgs({ options: { family: { type: 'string', default: 'lm' }, steps: { type: 'string' }, render: { type: 'boolean', default: false } } });
if (args.family !== 'lm' && args.family !== 'fashion') throw new Error(`--family: expected lm or fashion, got ${args.family}`);
const FAMILY = args.family;
const STEPS = Number(args.steps ?? (FAMILY === 'lm' ? 1500 : 2000));
const DB = join(ROOT, 'results', 'students.db');

interface Row {
  student: string;
  genome: Genome;
  /** blocks × width, heads, MLP (lm); channels, kernels, dense (fashion). */
  shape: string;
  parameters: number;
  flops: number;
  steps: number;
  trainSeconds: number;
  /** Held-out metrics: KL to the teacher and perplexity (lm); accuracy (fashion). */
  heldOut: Record<string, number>;
}

interface Report {
  family: string;
  steps: number;
  teacher: { parameters: number; heldOut: Record<string, number> };
  budgetParameters: number;
  search: Record<string, { runId: string; seconds: number; evaluations: number }>;
  rows: Row[];
}

/** The level of `levels` nearest to `target`. */
const nearest = (levels: number[], target: number) => levels.reduce((best, v, l) => (Math.abs(v - target) < Math.abs(levels[best] - target) ? l : best), 0);

/** The teacher's proportions at the largest width of the space whose student fits the budget. */
function handScaledLm(experiment: Experiment, teacher: { nLayers: number; dModel: number; nHeads: number; dFf: number }): Genome {
  const space = new SpaceIndex(experiment.space);
  const [blocks, width, heads, mlp] = experiment.space.units;
  const fitting = width.levels
    .map((w, l) => [nearest(blocks.levels, Math.max(1, (w * teacher.nLayers) / teacher.dModel)), l, nearest(heads.levels, teacher.nHeads), nearest(mlp.levels, (w * teacher.dFf) / teacher.dModel)])
    .filter((g) => space.isFeasible(g));
  if (fitting.length === 0) throw new Error('no hand-scaled student fits the budget');
  return fitting.sort((a, b) => width.levels[b[1]] - width.levels[a[1]])[0];
}

/** Two stages of 3 × 3 convolutions (c, then 2c channels) and a dense layer: the largest of the space that fits. */
function handDesignedCnn(experiment: Experiment): Genome {
  const space = new SpaceIndex(experiment.space);
  const units = experiment.space.units;
  const arch = experiment.space.architecture as ConvArchitecture;
  const at = (name: string) => units.findIndex((u) => u.name === name);
  let best: Genome | null = null;
  for (const [c, channels] of units[at('channels.0')].levels.entries()) {
    const doubled = units[at('channels.1')].levels.indexOf(2 * channels);
    if (doubled < 0) continue;
    for (const d of units[at('dense')].levels.keys()) {
      const genome = units.map((u) => Math.max(0, u.levels.indexOf(3)));
      genome[0] = units[0].levels.indexOf(2);
      genome[at('channels.0')] = c;
      genome[at('channels.1')] = doubled;
      genome[at('dense')] = d;
      if (!space.isFeasible(genome)) continue;
      if (!best || architectureParameters(arch, units, genome) > architectureParameters(arch, units, best)) best = genome;
    }
  }
  if (!best) throw new Error('no hand-designed CNN fits the budget');
  return best;
}

const jsonFile = join(ROOT, 'results', `students-${FAMILY}.json`);
let report = existsSync(jsonFile) ? (JSON.parse(readFileSync(jsonFile, 'utf8')) as Report) : null;
if (report && report.steps !== STEPS) report = null;

/** What a comparison trains and measures, per family. */
interface Trainer {
  teacher: { parameters: number; heldOut: Record<string, number> };
  describe(genome: Genome): string;
  trainAndMeasure(genome: Genome): Record<string, number>;
  close(): void;
}

async function lmTrainer(experiment: Experiment): Promise<Trainer> {
  if (experiment.fitness.type !== 'distill') throw new Error('the lm search has another fitness');
  const arch = experiment.space.architecture as TransformerArchitecture;
  const teacher = loadTransformer(arch.teacher.path);
  // One process trains every student, so the teacher's targets on each training batch are computed once.
  const fitness = await DistillFitness.load({ ...experiment.fitness, cacheMiB: 2048 }, { space: experiment.space, seed: experiment.seed });
  const shape = (genome: Genome) => transformerShape(arch, experiment.space.units, genome);
  return {
    teacher: { parameters: arch.teacher.parameters, heldOut: fitness.heldOut(teacher.config, teacher.weights) },
    describe: (genome) => {
      const s = shape(genome);
      const list = (xs: number[]) => (xs.every((x) => x === xs[0]) ? `${xs[0]}` : xs.join('/'));
      return `${s.blocks} × ${s.width}, ${list(s.heads)} heads, MLP ${list(s.mlpWidth)}`;
    },
    trainAndMeasure: (genome) => fitness.heldOut(studentConfig(arch, shape(genome)), fitness.train(genome, STEPS).weights),
    close: () => fitness.close(),
  };
}

async function fashionTrainer(experiment: Experiment): Promise<Trainer> {
  if (experiment.fitness.type !== 'train') throw new Error('the fashion search has another fitness');
  const arch = experiment.space.architecture as ConvArchitecture;
  const fitness = await TrainFitness.load(experiment.fitness, { space: experiment.space, seed: experiment.seed });
  const teacher = JSON.parse(readFileSync(join(arch.teacher.path, 'training.json'), 'utf8')) as { heldOutAccuracy: number };
  const heldOut = loadPictures('heldOut');
  return {
    teacher: { parameters: arch.teacher.parameters, heldOut: { accuracy: teacher.heldOutAccuracy } },
    describe: (genome) => {
      const s = cnnShapeOf(arch, experiment.space.units, genome);
      return `channels ${s.channels.join('/')}, kernels ${s.kernels.join('/')}, dense ${s.dense}`;
    },
    trainAndMeasure: (genome) => {
      const { shape, weights } = fitness.trainStudent(genome, STEPS);
      return { accuracy: fitness.accuracy(shape, weights, heldOut) };
    },
    close: () => fitness.close(),
  };
}

if (!args.render) {
  const searches = FAMILY === 'lm' ? { distill: ['lm-distill.json', 'lm-distill-1'], flops: ['lm-flops.json', 'lm-flops-1'] } : { train: ['fashion-train.json', 'fashion-train-3'] };
  const runs = Object.fromEntries(
    Object.entries(searches).map(([name, [file, runId]]) => {
      const { experiment, result, seconds } = finishedRun(DB, runId, ['run', join(ROOT, 'experiments', 'students', file)]);
      return [name, { runId, experiment, genome: result.units.map((u) => u.level), seconds, evaluations: result.provenance.evaluations }];
    }),
  );
  const main = FAMILY === 'lm' ? runs.distill : runs.train;
  const students: [string, Genome][] =
    FAMILY === 'lm'
      ? [['distill search', runs.distill.genome], ['flops (Compressor)', runs.flops.genome], ['hand-scaled', handScaledLm(main.experiment, loadTransformer((main.experiment.space.architecture as TransformerArchitecture).teacher.path).config)]]
      : [['train search', runs.train.genome], ['hand-designed', handDesignedCnn(main.experiment)]];
  const trainer = FAMILY === 'lm' ? await lmTrainer(main.experiment) : await fashionTrainer(main.experiment);
  const arch = main.experiment.space.architecture!;
  report ??= { family: FAMILY, steps: STEPS, teacher: trainer.teacher, budgetParameters: main.experiment.space.budget.total / 4, search: {}, rows: [] };
  report.search = Object.fromEntries(Object.entries(runs).map(([name, r]) => [name, { runId: r.runId, seconds: r.seconds, evaluations: r.evaluations }]));
  // A row is reused only for the same student: a search re-run with other settings finds another genome.
  const sameStudent = (r: Row) => students.some(([student, genome]) => r.student === student && JSON.stringify(r.genome) === JSON.stringify(genome));
  report.rows = report.rows.filter(sameStudent);
  for (const [student, genome] of students) {
    if (report.rows.some((r) => r.student === student)) continue;
    const shape = trainer.describe(genome);
    console.log(`training ${student} (${shape}) for ${STEPS} steps`);
    const started = Date.now();
    const heldOut = trainer.trainAndMeasure(genome);
    const trainSeconds = (Date.now() - started) / 1000;
    const units = main.experiment.space.units;
    report.rows.push({ student, genome, shape, parameters: architectureParameters(arch, units, genome), flops: architectureFlops(arch, units, genome), steps: STEPS, trainSeconds, heldOut });
    writeFileSync(jsonFile, JSON.stringify(report, null, 2) + '\n');
    console.log(`${student}: ${JSON.stringify(heldOut)} (${trainSeconds.toFixed(0)} s)`);
  }
  report.rows.sort((a, b) => students.findIndex(([s]) => s === a.student) - students.findIndex(([s]) => s === b.student));
  writeFileSync(jsonFile, JSON.stringify(report, null, 2) + '\n');
  trainer.close();
}

if (!report) throw new Error(`${jsonFile}: nothing measured yet`);
const metric = (r: Record<string, number>) => (FAMILY === 'lm' ? `${r.kl.toFixed(4)} | ${r.perplexity.toFixed(3)}` : `${(100 * r.accuracy).toFixed(2)}%`);
const lines = [
  FAMILY === 'lm' ? '# Students of the reference language model at 1/10 of its parameters' : '# Students of the clothing classifier at 1/4 of its parameters',
  '',
  `Written by \`npm run experiments:students -- --family ${FAMILY}\` on ${new Date().toISOString().slice(0, 10)} (2 cores, TensorFlow.js wasm). Every student is`,
  FAMILY === 'lm'
    ? `trained by distillation for ${report.steps} steps of 8 windows × 128 characters (the same batches for each), then measured on held-out text: State of the Union 2011–2021, 64 windows.`
    : `trained from labels for ${report.steps} steps of 32 pictures (the same batches for each), then measured on Fashion-MNIST's official 10,000-picture test set.`,
  `Budget: ≤ ${report.budgetParameters.toFixed(0)} parameters (float32).`,
  '',
  FAMILY === 'lm' ? '| student | shape | parameters | forward MFLOPs/token | held-out KL to teacher | held-out perplexity | training s |' : '| student | shape | parameters | forward MFLOPs/picture | test accuracy | training s |',
  FAMILY === 'lm' ? '|---|---|---|---|---|---|---|' : '|---|---|---|---|---|---|',
  ...report.rows.map((r) => `| ${r.student} | ${r.shape} | ${r.parameters} | ${(r.flops / 1e6).toFixed(3)} | ${metric(r.heldOut)} | ${r.trainSeconds.toFixed(0)} |`),
  FAMILY === 'lm' ? `| teacher | 4 × 160, 4 heads, MLP 640 | ${report.teacher.parameters} | | 0 | ${report.teacher.heldOut.perplexity.toFixed(3)} | |` : `| teacher (models/fashion-cnn) | | ${report.teacher.parameters} | | ${(100 * report.teacher.heldOut.accuracy).toFixed(2)}% | |`,
  '',
  `Search wall time: ${Object.entries(report.search).map(([name, s]) => `${name} ${s.seconds < 60 ? `${s.seconds.toFixed(1)} s` : `${(s.seconds / 60).toFixed(1)} min`} (${s.evaluations} evaluations, run ${s.runId})`).join('; ')}.`,
  ...(FAMILY === 'lm' ? ['The first student\'s training time includes the teacher\'s probabilities on every training batch, computed once and reused by the others.'] : []),
];
writeFileSync(join(ROOT, 'results', `students-${FAMILY}.md`), lines.join('\n') + '\n');
console.log(lines.join('\n'));
