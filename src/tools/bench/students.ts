/**
 * `npm run experiments:students`: three GPT-2 students of the reference language model under the
 * same budget (1/10 of its parameters), each trained by distillation for the same number of steps,
 * compared on held-out text (State of the Union 2011–2021):
 *   - the student a `distill` search found (experiments/students/lm-distill.json);
 *   - the `flops`-picked student, Compressor's method (experiments/students/lm-flops.json);
 *   - a hand-scaled student: the teacher's shape (MLP 4× the width, its head count, its
 *     depth-to-width ratio) at the largest width that fits.
 * The searches are stored in results/students.db and reused when finished there; each trained
 * student's numbers go to results/students.json as they come, so an interrupted comparison goes
 * on where it stopped. Options: --steps N (default 1500), --render (only rewrite the table).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Store } from '../../store/store.js';
import { loadExperimentOfRun, runResult } from '../../export/result.js';
import { DistillFitness, studentConfig } from '../../fitness/distill.js';
import { SpaceIndex, type Genome } from '../../space/space.js';
import { transformerParameters, transformerShape, transformerFlops, type TransformerArchitecture } from '../../space/architecture.js';
import { loadTransformer } from '../../models/transformer.js';
import type { Experiment } from '../../engine/experiment.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const { values: args } = parseArgs({ options: { steps: { type: 'string', default: '1500' }, render: { type: 'boolean', default: false } } });
const STEPS = Number(args.steps);
const DB = join(ROOT, 'results', 'students.db');
const SEARCHES = { distill: { file: 'lm-distill.json', runId: 'lm-distill-1' }, flops: { file: 'lm-flops.json', runId: 'lm-flops-1' } };

interface Row {
  student: string;
  genome: Genome;
  shape: { blocks: number; width: number; heads: number; mlpWidth: number };
  parameters: number;
  flopsPerToken: number;
  steps: number;
  trainSeconds: number;
  heldOutKl: number;
  heldOutPerplexity: number;
}

interface Report {
  steps: number;
  teacher: { parameters: number; heldOutPerplexity: number };
  budgetParameters: number;
  searchSeconds: Record<string, number>;
  searchEvaluations: Record<string, number>;
  rows: Row[];
}

/** A finished run of the search, run here when results/students.db lacks it; its wall time is the run's own. */
function finishedRun(search: keyof typeof SEARCHES): { experiment: Experiment; genome: Genome; seconds: number; evaluations: number } {
  const { file, runId } = SEARCHES[search];
  const have = existsSync(DB) && spawnSync(process.execPath, [join(ROOT, 'dist', 'cli', 'main.js'), 'status', runId, '--db', DB, '--json'], { encoding: 'utf8' });
  const status = have && have.status === 0 ? (JSON.parse(have.stdout) as { status: string }).status : null;
  if (status !== 'finished') {
    const verb = status === null ? ['run', join(ROOT, 'experiments', 'students', file), '--run-id', runId] : ['resume', runId];
    console.log(`${search} search: ${verb[0]} ${runId}`);
    const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'cli', 'main.js'), ...verb, '--db', DB], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${search} search failed`);
  }
  const store = Store.open(DB, { mustExist: true });
  try {
    const result = runResult(store, runId);
    return { experiment: loadExperimentOfRun(store, runId), genome: result.units.map((u) => u.level), seconds: store.getCheckpoint(runId).wallMs / 1000, evaluations: result.provenance.evaluations };
  } finally {
    store.close();
  }
}

/** The teacher's proportions at the largest width of the space whose student fits the budget. */
function handScaled(experiment: Experiment, teacher: { nLayers: number; dModel: number; nHeads: number; dFf: number }): Genome {
  const space = new SpaceIndex(experiment.space);
  const [blocks, width, heads, mlp] = experiment.space.units;
  const nearest = (levels: number[], target: number) => levels.reduce((best, v, l) => (Math.abs(v - target) < Math.abs(levels[best] - target) ? l : best), 0);
  const candidates = width.levels
    .map((w, l) => [nearest(blocks.levels, Math.max(1, (w * teacher.nLayers) / teacher.dModel)), l, nearest(heads.levels, teacher.nHeads), nearest(mlp.levels, (w * teacher.dFf) / teacher.dModel)])
    .filter((g) => space.isFeasible(g));
  if (candidates.length === 0) throw new Error('no hand-scaled student fits the budget');
  return candidates.sort((a, b) => width.levels[b[1]] - width.levels[a[1]])[0];
}

const jsonFile = join(ROOT, 'results', 'students.json');
let report = existsSync(jsonFile) ? (JSON.parse(readFileSync(jsonFile, 'utf8')) as Report) : null;
if (report && report.steps !== STEPS) report = null;

if (!args.render) {
  const distill = finishedRun('distill');
  const flops = finishedRun('flops');
  const teacherModel = loadTransformer(join(ROOT, 'models', 'reference-lm'));
  const arch = distill.experiment.space.architecture as TransformerArchitecture;
  const students: [string, Genome][] = [
    ['distill search', distill.genome],
    ['flops (Compressor)', flops.genome],
    ['hand-scaled', handScaled(distill.experiment, teacherModel.config)],
  ];
  if (distill.experiment.fitness.type !== 'distill') throw new Error('the distill search has another fitness');
  // One process trains all three, so the teacher's targets on each training batch are computed once.
  const fitness = await DistillFitness.load({ ...distill.experiment.fitness, cacheMiB: 2048 }, { space: distill.experiment.space, seed: distill.experiment.seed });
  const teacherHeldOut = fitness.heldOut(teacherModel.config, teacherModel.weights);
  report ??= {
    steps: STEPS,
    teacher: { parameters: arch.teacher.parameters, heldOutPerplexity: teacherHeldOut.perplexity },
    budgetParameters: distill.experiment.space.budget.total / 4,
    searchSeconds: {},
    searchEvaluations: {},
    rows: [],
  };
  report.searchSeconds = { distill: distill.seconds, flops: flops.seconds };
  report.searchEvaluations = { distill: distill.evaluations, flops: flops.evaluations };
  for (const [student, genome] of students) {
    if (report.rows.some((r) => r.student === student)) continue;
    const shape = transformerShape(arch, distill.experiment.space.units, genome);
    const started = Date.now();
    console.log(`training ${student}: ${shape.blocks} blocks × ${shape.width}, ${shape.heads[0]} heads, MLP ${shape.mlpWidth[0]}, ${STEPS} steps`);
    const { weights } = fitness.train(genome, STEPS);
    const trainSeconds = (Date.now() - started) / 1000;
    const held = fitness.heldOut(studentConfig(arch, shape), weights);
    report.rows.push({
      student,
      genome,
      shape: { blocks: shape.blocks, width: shape.width, heads: shape.heads[0], mlpWidth: shape.mlpWidth[0] },
      parameters: transformerParameters(arch, shape),
      flopsPerToken: transformerFlops(arch, shape),
      steps: STEPS,
      trainSeconds,
      heldOutKl: held.kl,
      heldOutPerplexity: held.perplexity,
    });
    writeFileSync(jsonFile, JSON.stringify(report, null, 2) + '\n');
    console.log(`${student}: held-out KL ${held.kl.toFixed(4)}, perplexity ${held.perplexity.toFixed(3)} (${trainSeconds.toFixed(0)} s)`);
  }
  fitness.close();
}

if (!report) throw new Error(`${jsonFile}: nothing measured yet`);
const lines = [
  '# Students of the reference language model at 1/10 of its parameters',
  '',
  `Written by \`npm run experiments:students\` on ${new Date().toISOString().slice(0, 10)} (2 cores, TensorFlow.js wasm). Every student is trained`,
  `by distillation for ${report.steps} steps of 8 windows × 128 characters (the same batches for each), then measured on`,
  'held-out text: State of the Union 2011–2021, 64 windows. Budget: ≤ ' + `${report.budgetParameters.toFixed(0)} parameters (float32).`,
  '',
  '| student | blocks × width | heads | MLP | parameters | forward MFLOPs/token | held-out KL to teacher | held-out perplexity | training s |',
  '|---|---|---|---|---|---|---|---|---|',
  ...report.rows.map((r) => `| ${r.student} | ${r.shape.blocks} × ${r.shape.width} | ${r.shape.heads} | ${r.shape.mlpWidth} | ${r.parameters} | ${(r.flopsPerToken / 1e6).toFixed(3)} | ${r.heldOutKl.toFixed(4)} | ${r.heldOutPerplexity.toFixed(3)} | ${r.trainSeconds.toFixed(0)} |`),
  `| teacher | | | | ${report.teacher.parameters} | | 0 | ${report.teacher.heldOutPerplexity.toFixed(3)} | |`,
  '',
  `Search wall time: distill ${(report.searchSeconds.distill / 60).toFixed(1)} min (${report.searchEvaluations.distill} trainings), flops ${report.searchSeconds.flops.toFixed(1)} s (${report.searchEvaluations.flops} evaluations).`,
];
writeFileSync(join(ROOT, 'results', 'students.md'), lines.join('\n') + '\n');
console.log(lines.join('\n'));
