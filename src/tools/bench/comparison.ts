/**
 * `npm run experiments:lm` / `experiments:images` / `experiments:fashion`: runs every experiment
 * of a suite through the CLI, as a run named after it in results/<suite>-experiments.db (building
 * or reusing its level database; a finished run is reused, a stopped one resumed), and records the
 * held-out comparison with uniform compression in results/<suite>-comparison.md and .json. Names
 * after the suite limit it to those experiments and update their rows; `--render` only rewrites
 * the table. To measure a run again, delete it from the database (or the database).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mcnemarZ, type HeldOutRow } from '../../export/heldout.js';
import { ROOT, evosearch, finishedRun } from './stored-runs.js';

interface Metric {
  key: string;
  label: string;
  digits: number;
  /** Whether the dense model's value says anything (KL to itself is 0 by definition). */
  dense: boolean;
}

interface Suite {
  title: string;
  experiments: string[];
  metrics: Metric[];
  about: string[];
  /** Whether held-out rows carry a paired count against uniform (pictures gained and lost), with McNemar's z. */
  paired?: boolean;
}

/** A suite's description sits beside its experiments: experiments/<suite>/comparison.json. */
function readSuite(name: string | undefined): Suite {
  const file = join(ROOT, 'experiments', name ?? '', 'comparison.json');
  if (!name || !existsSync(file)) throw new Error('usage: comparison.js <suite: a folder of experiments/ with a comparison.json> [experiment...] [--render]');
  return JSON.parse(readFileSync(file, 'utf8')) as Suite;
}

interface Row {
  experiment: string;
  seconds: number;
  evaluations: number;
  heldOut: HeldOutRow[];
}

const [suiteName, ...rest] = process.argv.slice(2);
const suite = readSuite(suiteName);
const render = rest.includes('--render');
const only = rest.filter((a) => a !== '--render');
const jsonFile = join(ROOT, 'results', `${suiteName}-comparison.json`);
const rows: Row[] = (render || only.length > 0) && existsSync(jsonFile) ? (JSON.parse(readFileSync(jsonFile, 'utf8')) as Row[]) : [];
mkdirSync(join(ROOT, 'results', suiteName), { recursive: true });

const fmt = (row: HeldOutRow, m: Metric) => (row[m.key] as number).toFixed(m.digits);
const db = join(ROOT, 'results', `${suiteName}-experiments.db`);
for (const name of render ? [] : suite.experiments.filter((e) => only.length === 0 || only.includes(e))) {
  // Each experiment is one run, named after it: a finished one is reused, a stopped one resumed.
  const { result, seconds } = finishedRun(db, name, ['run', join(ROOT, 'experiments', suiteName, `${name}.json`)]);
  evosearch(['export', name, '--db', db, '--out', join(ROOT, 'results', suiteName, `${name}.json`)]);
  const heldOut = JSON.parse(evosearch(['heldout', name, '--db', db, '--json'])) as HeldOutRow[];
  const at = rows.findIndex((row) => row.experiment === name);
  rows.splice(at < 0 ? rows.length : at, at < 0 ? 0 : 1, { experiment: name, seconds, evaluations: result.provenance.evaluations, heldOut });
  const [dense, uniform, search] = heldOut;
  console.log(`${name}: ${suite.metrics.map((m) => `${m.label} uniform ${fmt(uniform, m)} → search ${fmt(search, m)} (dense ${fmt(dense, m)})`).join('; ')}; ${seconds.toFixed(0)} s`);
}

const pairedColumns = (search: HeldOutRow) => (suite.paired ? [search.gained, search.lost, mcnemarZ(search.gained as number, search.lost as number).toFixed(2)] : []);
const header = ['experiment', ...suite.metrics.flatMap((m) => [`uniform ${m.label}`, `evopress ${m.label}`, ...(m.dense ? [`dense ${m.label}`] : [])]), ...(suite.paired ? ['gained', 'lost', 'McNemar z'] : []), 'evaluations', 'search wall time'];
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
