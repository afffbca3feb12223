/**
 * `npm run experiments:lm`: runs every language-model experiment of experiments/lm/ through the
 * CLI (building or reusing its level database) and records the held-out comparison with uniform
 * compression in results/lm-comparison.md and .json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HeldOutRow } from '../cli/heldout.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const EXPERIMENTS = ['sparsegpt-50', 'sparsegpt-60', 'sparsegpt-70', 'magnitude-60', 'wanda-60', 'gptq-3bit', 'rtn-3bit', 'drop-25'];
/** Names given on the command line: run only those and update their rows of the recorded table; `--render`: only rewrite the table. */
const render = process.argv.includes('--render');
const only = process.argv.slice(2).filter((a) => a !== '--render');
const JSON_FILE = join(ROOT, 'results', 'lm-comparison.json');

interface Row {
  experiment: string;
  seconds: number;
  evaluations: number;
  heldOut: HeldOutRow[];
}

const rows: Row[] = (render || only.length > 0) && existsSync(JSON_FILE) ? (JSON.parse(readFileSync(JSON_FILE, 'utf8')) as Row[]) : [];
mkdirSync(join(ROOT, 'results', 'lm'), { recursive: true });
for (const name of render ? [] : EXPERIMENTS.filter((e) => only.length === 0 || only.includes(e))) {
  const file = join(ROOT, 'experiments', 'lm', `${name}.json`);
  const started = Date.now();
  const args = [join(ROOT, 'dist', 'cli', 'main.js'), 'run', file, '--db', join(ROOT, 'results', 'lm-experiments.db'), '--out', join(ROOT, 'results', 'lm', `${name}.json`), '--json'];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${name}: ${r.stderr.trim()}`);
  const out = JSON.parse(r.stdout) as { result: { provenance: { evaluations: number } }; heldOut: HeldOutRow[] };
  const at = rows.findIndex((r) => r.experiment === name);
  rows.splice(at < 0 ? rows.length : at, at < 0 ? 0 : 1, { experiment: name, seconds: (Date.now() - started) / 1000, evaluations: out.result.provenance.evaluations, heldOut: out.heldOut });
  const [dense, uniform, search] = out.heldOut;
  console.log(`${name}: KL uniform ${uniform.kl.toFixed(5)} → search ${search.kl.toFixed(5)}; perplexity ${uniform.ppl.toFixed(3)} → ${search.ppl.toFixed(3)} (dense ${dense.ppl.toFixed(3)}); ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

const table = [
  '| experiment | uniform KL | evopress KL | uniform ppl | evopress ppl | dense ppl | evaluations | wall time |',
  '|---|---|---|---|---|---|---|---|',
  ...[...rows].sort((a, b) => EXPERIMENTS.indexOf(a.experiment) - EXPERIMENTS.indexOf(b.experiment)).map((r) => {
    const [dense, uniform, search] = r.heldOut;
    return `| ${r.experiment} | ${uniform.kl.toFixed(5)} | ${search.kl.toFixed(5)} | ${uniform.ppl.toFixed(3)} | ${search.ppl.toFixed(3)} | ${dense.ppl.toFixed(3)} | ${r.evaluations} | ${r.seconds.toFixed(0)} s |`;
  }),
];
const text = [
  '# Reference language model: evopress against uniform compression, held-out',
  '',
  'Held-out text: the State of the Union addresses of 2011–2021 (64 windows of 128 characters), never',
  'seen in training or calibration. KL is KL(dense ‖ compressed) in nats per character; ppl is the',
  'per-character perplexity. "uniform" puts every layer at the target level of the same database;',
  '"evopress" is the exported best configuration at the same budget. For drop-25 there is no uniform',
  'level: its baseline keeps the first six sub-blocks and drops the last two (block 3). Each experiment',
  'has its own database (experiments/databases/); levels step by 10% of the smallest layer.',
  `Written by \`npm run experiments:lm\` on ${new Date().toISOString().slice(0, 10)} (2 cores, onnx backend, seed 1).`,
  '',
  ...table,
  '',
].join('\n');
writeFileSync(join(ROOT, 'results', 'lm-comparison.md'), text);
writeFileSync(JSON_FILE, JSON.stringify(rows, null, 2) + '\n');
console.log(text);
