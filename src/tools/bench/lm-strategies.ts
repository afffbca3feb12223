/**
 * `npm run experiments:strategies`: evopress (the default), evopress without its model
 * (`screening: 0`) and the genetic strategy on the reference language model's SparseGPT 60% and
 * 70% databases, five seeds each, at equal evaluations; held-out KL and perplexity of each run's
 * exported configuration. Each finished run is kept in results/lm-strategies.json, so a rerun
 * continues where an interrupted one stopped; `--render` only rewrites the table.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HeldOutRow } from '../../export/heldout.js';
import { median } from '../../statistics.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const EVALUATIONS = 4000;
const SEEDS = [1, 2, 3, 4, 5];
const DATABASES = ['sparsegpt-60', 'sparsegpt-70'];
/** The language-model experiments race 4 survivors at budget 1, then at budget 4 (16 windows). */
const STAGES = [{ survivors: 4, budget: 1 }, { survivors: 1, budget: 4 }];
const STRATEGIES: Record<string, unknown> = {
  'evopress (default)': { type: 'evopress', generations: 1_000_000, selection: STAGES },
  'evopress, screening 0': { type: 'evopress', generations: 1_000_000, selection: STAGES, screening: 0 },
  // Every genetic evaluation reads as much as evopress's deciding stage.
  'genetic (population 64)': { type: 'genetic', generations: 1_000_000, budget: 4 },
};

interface Row {
  database: string;
  strategy: string;
  seed: number;
  evaluations: number;
  seconds: number;
  heldOut: HeldOutRow[];
}

const jsonFile = join(ROOT, 'results', 'lm-strategies.json');
const rows: Row[] = existsSync(jsonFile) ? (JSON.parse(readFileSync(jsonFile, 'utf8')) as Row[]) : [];
const workDir = join(ROOT, 'results', 'lm-strategies');
mkdirSync(workDir, { recursive: true });

if (!process.argv.includes('--render')) {
  for (const database of DATABASES) {
    const base = JSON.parse(readFileSync(join(ROOT, 'experiments', 'lm', `${database}.json`), 'utf8')) as { fitness: unknown };
    for (const seed of SEEDS) {
      for (const [strategy, config] of Object.entries(STRATEGIES)) {
        if (rows.some((r) => r.database === database && r.strategy === strategy && r.seed === seed)) continue;
        const name = `${database}-${strategy.replace(/[^a-z0-9]+/gi, '-')}-${seed}`;
        const experiment = {
          name,
          seed,
          space: { database: join(ROOT, 'experiments', 'databases', `${database}.json`) },
          strategy: config,
          fitness: base.fitness,
          stop: { maxEvaluations: EVALUATIONS },
        };
        const file = join(workDir, `${name}.experiment.json`);
        writeFileSync(file, JSON.stringify(experiment, null, 2));
        const started = Date.now();
        const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'cli', 'main.js'), 'run', file, '--db', join(workDir, 'runs.db'), '--json'], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`${name}: ${r.stderr.trim()}`);
        const out = JSON.parse(r.stdout) as { result: { provenance: { evaluations: number } }; heldOut: HeldOutRow[] };
        rows.push({ database, strategy, seed, evaluations: out.result.provenance.evaluations, seconds: (Date.now() - started) / 1000, heldOut: out.heldOut });
        writeFileSync(jsonFile, JSON.stringify(rows, null, 2) + '\n');
        const search = out.heldOut[2];
        console.log(`${name}: held-out KL ${(search.kl as number).toFixed(5)}, ppl ${(search.ppl as number).toFixed(3)}, ${out.result.provenance.evaluations} evaluations, ${((Date.now() - started) / 1000).toFixed(0)} s`);
      }
    }
  }
}

const lines = [
  '# Strategies on the reference language model (held-out, equal evaluations)',
  '',
  `Written by \`npm run experiments:strategies\` on ${new Date().toISOString().slice(0, 10)} (2 cores). Each run: ${EVALUATIONS} evaluations`,
  '(stop.maxEvaluations, validation included), KL fitness on 4 windows × 16 slices, 4 validation slices; held-out:',
  'State of the Union 2011–2021, 64 windows of 128 characters. Medians over seeds 1–5; the values per seed follow.',
  '',
  '| database | strategy | median held-out KL | median ppl | KL per seed | uniform KL | dense ppl |',
  '|---|---|---|---|---|---|---|',
];
for (const database of DATABASES) {
  for (const strategy of Object.keys(STRATEGIES)) {
    const runs = rows.filter((r) => r.database === database && r.strategy === strategy).sort((a, b) => a.seed - b.seed);
    if (runs.length === 0) continue;
    const kl = runs.map((r) => r.heldOut[2].kl as number);
    const ppl = runs.map((r) => r.heldOut[2].ppl as number);
    lines.push(`| ${database} | ${strategy} | ${median(kl).toFixed(5)} | ${median(ppl).toFixed(3)} | ${kl.map((x) => x.toFixed(5)).join(' ')} | ${(runs[0].heldOut[1].kl as number).toFixed(5)} | ${(runs[0].heldOut[0].ppl as number).toFixed(3)} |`);
  }
}
writeFileSync(join(ROOT, 'results', 'lm-strategies.md'), lines.join('\n') + '\n');
console.log(lines.join('\n'));
