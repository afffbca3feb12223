/**
 * `npm run experiments:baselines`: is the search worth it? On the reference language model, for
 * SparseGPT at 50/60/70% sparsity and GPTQ at 3 bits: uniform, owl (per layer, and per block as
 * OWL's code pools them; sparsity only), dp, evopress without its
 * surrogate (`screening: 0`) and evopress; for 25% sub-block drop: uniform, block-influence, dp and
 * evopress. Every configuration is a run in results/lm-experiments.db, shared with
 * `experiments:lm` (whose evopress runs, named after their experiments, are reused), measured on
 * held-out text. Writes results/baselines-comparison.md and .json, and the HTML report of the
 * SparseGPT 60% runs with its screenshot (results/baselines-sparsegpt-60.{html,png}; chromium).
 * Interrupted, it goes on where it stopped: finished runs are reused, stopped ones resumed.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import type { HeldOutRow } from '../../export/heldout.js';
import { ROOT, evosearch, finishedRun } from './stored-runs.js';

const EXPERIMENTS = ['sparsegpt-50', 'sparsegpt-60', 'sparsegpt-70', 'gptq-3bit', 'drop-25'];
const DB = join(ROOT, 'results', 'lm-experiments.db');
const VARIANTS = join(ROOT, 'results', 'lm-baselines');

type Method = 'uniform' | 'owl' | 'owl (per block)' | 'block-influence' | 'dp' | 'evopress, screening 0' | 'evopress';

interface Row {
  experiment: string;
  method: Method;
  runId: string;
  /** What the run measured on calibration (validated where it validated). */
  fitness: number;
  evaluations: number;
  seconds: number;
  kl: number;
  ppl: number;
}

function methodsOf(experiment: string): Method[] {
  if (experiment.startsWith('drop')) return ['uniform', 'block-influence', 'dp', 'evopress'];
  return experiment.startsWith('gptq') ? ['uniform', 'dp', 'evopress, screening 0', 'evopress'] : ['uniform', 'owl', 'owl (per block)', 'dp', 'evopress, screening 0', 'evopress'];
}

/** The experiment without the surrogate's screening, written beside the results (its database path made absolute). */
function withoutScreening(experiment: string): string {
  const file = join(ROOT, 'experiments', 'lm', `${experiment}.json`);
  const e = JSON.parse(readFileSync(file, 'utf8')) as { name: string; space: { database: string }; strategy: Record<string, unknown> };
  const variant = { ...e, name: `${e.name}-screening0`, space: { database: resolve(join(ROOT, 'experiments', 'lm'), e.space.database) }, strategy: { ...e.strategy, screening: 0 } };
  mkdirSync(VARIANTS, { recursive: true });
  const out = join(VARIANTS, `${experiment}-screening0.json`);
  writeFileSync(out, JSON.stringify(variant, null, 2) + '\n');
  return out;
}

function measure(experiment: string, method: Method): Row {
  const file = join(ROOT, 'experiments', 'lm', `${experiment}.json`);
  const [runId, launch] =
    method === 'evopress' ? [experiment, ['run', file]]
    : method === 'evopress, screening 0' ? [`${experiment}-screening0`, ['run', withoutScreening(experiment)]]
    : method === 'owl (per block)' ? [`${experiment}-owl-block`, ['baseline', 'owl', file, '--owl-scope', 'block']]
    : [`${experiment}-${method}`, ['baseline', method, file]];
  const { result, seconds } = finishedRun(DB, runId, launch);
  const search = (JSON.parse(evosearch(['heldout', runId, '--db', DB, '--json'])) as HeldOutRow[]).find((r) => r.configuration === 'search')!;
  const row: Row = { experiment, method, runId, fitness: result.validation?.fitness ?? result.fitness, evaluations: result.provenance.evaluations, seconds, kl: search.kl as number, ppl: search.ppl as number };
  console.log(`${runId}: held-out KL ${row.kl.toFixed(5)}, ppl ${row.ppl.toFixed(3)} (${row.evaluations} evaluations, ${row.seconds.toFixed(0)} s)`);
  return row;
}

const rows = EXPERIMENTS.flatMap((experiment) => methodsOf(experiment).map((method) => measure(experiment, method)));
writeFileSync(join(ROOT, 'results', 'baselines-comparison.json'), JSON.stringify(rows, null, 2) + '\n');

const kl = (experiment: string, method: Method) => rows.find((r) => r.experiment === experiment && r.method === method)?.kl;
/** "a beats b: held-out KL 0.0012 against 0.0030 (150.0% higher)", the reverse, or a tie, from the numbers. */
function verdict(experiment: string, a: Method, b: Method): string | null {
  const [x, y] = [kl(experiment, a), kl(experiment, b)];
  if (x === undefined || y === undefined) return null;
  if (x.toFixed(5) === y.toFixed(5)) return `${a} and ${b} tie: held-out KL ${x.toFixed(5)}`;
  const [win, lose, wx, wy] = x < y ? [a, b, x, y] : [b, a, y, x];
  return `${win} beats ${lose}: held-out KL ${wx.toFixed(5)} against ${wy.toFixed(5)} (${(100 * (wy / wx - 1)).toFixed(1)}% higher)`;
}

const lines = [
  '# Per-layer baselines against the search, reference language model, held-out',
  '',
  `Written by \`npm run experiments:baselines\` on ${new Date().toISOString().slice(0, 10)} (2 cores, seed 1). Every configuration meets the`,
  "experiment's budget and is a run of its own in results/lm-experiments.db; held-out text: State of the Union 2011–2021, 64",
  'windows of 128 characters. KL(dense ‖ compressed) in nats per character; "calibration" is what the run measured (validated',
  'where it validated). Baselines measure at the search\'s largest fidelity budget.',
  '',
  '| experiment | method | held-out KL | held-out ppl | calibration | evaluations | wall time |',
  '|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.experiment} | ${r.method} | ${r.kl.toFixed(5)} | ${r.ppl.toFixed(3)} | ${r.fitness.toPrecision(4)} | ${r.evaluations} | ${r.seconds.toFixed(0)} s |`),
  '',
  ...EXPERIMENTS.flatMap((e) => {
    const pairs: [Method, Method][] = e.startsWith('drop') ? [['evopress', 'block-influence'], ['evopress', 'dp']] : [['evopress', 'owl'], ['evopress', 'dp'], ['owl', 'uniform'], ['owl (per block)', 'uniform'], ['evopress', 'evopress, screening 0']];
    return pairs.map(([a, b]) => verdict(e, a, b)).filter((v): v is string => v !== null).map((v) => `- ${e}: ${v}`);
  }),
];
writeFileSync(join(ROOT, 'results', 'baselines-comparison.md'), lines.join('\n') + '\n');
console.log(lines.join('\n'));

// The HTML report of one budget's runs, and a screenshot of it for the README.
const shown = rows.filter((r) => r.experiment === 'sparsegpt-60');
const html = join(ROOT, 'results', 'baselines-sparsegpt-60.html');
evosearch(['report', ...shown.map((r) => r.runId), '--db', DB, '--out', html, '--title', 'SparseGPT 60%: per-layer baselines and evopress on the reference language model']);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1150, height: 900 } });
  await page.goto(`file://${html}`);
  await page.screenshot({ path: join(ROOT, 'results', 'baselines-sparsegpt-60.png'), fullPage: true });
} finally {
  await browser.close();
}
console.log(`wrote ${html} and its screenshot`);
