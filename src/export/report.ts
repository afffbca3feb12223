import type { Store } from '../store/store.js';
import type { Experiment } from '../engine/experiment.js';
import { loadExperimentOfRun, runResult, type RunResult } from './result.js';
import { hasHeldOut, heldOutComparison, heldOutTable, type HeldOutRow } from './heldout.js';
import { frontChart, heatmap, lineChart } from './charts.js';
import { loadSweep, sweepRunId } from '../engine/sweep.js';

/** What the report shows of one run. */
export interface ReportRun {
  experiment: Experiment;
  result: RunResult;
  history: { evaluations: number; bestFitness: number | null; wallMs: number }[];
  /** Dense, uniform and the run's configuration on held-out data; null where the fitness runs no model (or --no-heldout). */
  heldOut: HeldOutRow[] | null;
  /** The sweep the run is a budget of, when it was named as a sweep. */
  sweep?: string;
}

/**
 * The runs' results and histories from the store, and their held-out measurements (which run their
 * models). An id that names a sweep stands for its runs, in budget order.
 */
export async function collectReport(store: Store, ids: string[], withHeldOut: boolean): Promise<ReportRun[]> {
  const runs: ReportRun[] = [];
  for (const id of ids) {
    const isSweep = Boolean(store.getSweep(id));
    const members = isSweep ? loadSweep(store, id).sweep.map((p) => sweepRunId(id, p.value)).filter((runId) => store.getRun(runId)) : [id];
    for (const runId of members) {
      const experiment = loadExperimentOfRun(store, runId);
      const result = runResult(store, runId);
      const heldOut = withHeldOut && hasHeldOut(experiment) ? await heldOutComparison(experiment, result) : null;
      runs.push({ experiment, result, history: store.history(runId), heldOut, ...(isSweep && { sweep: id }) });
    }
  }
  return runs;
}

/** Each sweep's size–fitness front: the cost each budget's configuration has against its fitness (validated where it was). */
async function frontCharts(runs: ReportRun[]): Promise<string[]> {
  const sweeps = groupBy(runs.filter((r) => r.sweep), (r) => r.sweep!);
  if (sweeps.length === 0) return [];
  const series = sweeps.map((group) => ({ name: group[0].sweep!, points: group.map((r) => ({ x: r.result.cost, y: r.result.validation?.fitness ?? r.result.fitness })) }));
  const fitness = sweeps[0][0].experiment.fitness.type;
  return [figure(await frontChart({ title: 'Size against fitness, one point per budget', x: 'cost (the space\'s unit: weights kept, bits, parameter bytes)', y: `${fitness} (validated)`, series }), 'Each budget of a sweep: the exported configuration\'s cost and its fitness on the validation slices (the search\'s own where it did not validate).')];
}

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const table = (header: string[], rows: (string | number)[][]) =>
  `<table><thead><tr>${header.map((h) => `<th>${escape(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${escape(String(c))}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
const figure = (svg: string, caption: string) => `<figure>${svg}<figcaption>${escape(caption)}</figcaption></figure>`;

/** Best fitness so far against a progress measure, one series per run of one fitness (steps before the first measurement left out). */
function progressChart(runs: ReportRun[], x: 'evaluations' | 'seconds'): Promise<string> {
  const series = runs.map((r) => ({
    name: r.result.runId,
    points: r.history.filter((h) => h.bestFitness !== null).map((h) => ({ x: x === 'evaluations' ? h.evaluations : h.wallMs / 1000, y: h.bestFitness! })),
  }));
  const ys = series.flatMap((s) => s.points.map((p) => p.y));
  // Fitnesses such as KL shrink by orders of magnitude over a search: a log axis shows the whole run.
  const logY = ys.length > 0 && Math.min(...ys) > 0 && Math.max(...ys) / Math.min(...ys) > 20;
  const fitness = runs[0].experiment.fitness.type;
  return lineChart({ title: `The incumbent's ${fitness} fitness`, x: x === 'evaluations' ? 'evaluations' : 'wall time (s)', y: `${fitness}${logY ? ' (log)' : ''}`, series, logY });
}

/** Runs grouped by a key, in the order they were given. */
function groupBy(runs: ReportRun[], key: (r: ReportRun) => string): ReportRun[][] {
  const groups = new Map<string, ReportRun[]>();
  for (const r of runs) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
  return [...groups.values()];
}

/** Progress charts per fitness (runs of different fitnesses share no axis). */
async function progressCharts(runs: ReportRun[]): Promise<string[]> {
  const charts: string[] = [];
  for (const group of groupBy(runs, (r) => `${r.experiment.fitness.type} ${r.experiment.fitness.minimize}`)) {
    charts.push(figure(await progressChart(group, 'evaluations'), "Each run's best configuration so far, as its fitness returned it after so many evaluations. A search that races on changing calibration slices re-measures its incumbent on each, so the line moves both ways; a baseline with one evaluation is one point."));
    charts.push(figure(await progressChart(group, 'seconds'), 'The same against wall time, summed over the sessions of a resumed run.'));
  }
  return charts;
}

/** One heat map per distinct list of units (runs of the same space side by side). */
async function levelCharts(runs: ReportRun[]): Promise<string[]> {
  const charts: string[] = [];
  for (const group of groupBy(runs, (r) => r.result.units.map((u) => u.name).join('\n'))) {
    const units = group[0].result.units.map((u) => u.name);
    const rows = group.map((r) => ({ name: r.result.runId, values: r.result.units.map((u) => u.value) }));
    charts.push(figure(await heatmap({ title: 'Level chosen per unit', units, rows, value: 'level value' }), `The chosen level's value for each of ${units.length} units (sparsity, bits, 1 = dropped, or a hyper-parameter), runs side by side.`));
  }
  return charts;
}

function heldOutSection(runs: ReportRun[]): string {
  const measured = runs.filter((r) => r.heldOut);
  if (measured.length === 0) return '<p>No held-out measurement: these runs have no model over a level database, or the report was made with --no-heldout.</p>';
  const { title, columns } = heldOutTable(measured[0].experiment);
  const metric = (row: HeldOutRow, c: { key: string; digits: number }) => (typeof row[c.key] === 'number' ? (row[c.key] as number).toFixed(c.digits) : '-');
  const row = (run: string, configuration: string, r: HeldOutRow) => [run, configuration, ...columns.map((c) => metric(r, c)), r.cost ?? '-'];
  // Runs of one space share their dense and uniform rows: those are shown once when they agree.
  const shared = (configuration: 'dense' | 'uniform') => {
    const each = measured.map((r) => r.heldOut!.find((h) => h.configuration === configuration)!);
    return each.every((h) => JSON.stringify(h) === JSON.stringify(each[0])) ? [row('(every run)', configuration, each[0])] : measured.map((r, i) => row(r.result.runId, configuration, each[i]));
  };
  const rows = [...measured.map((r) => row(r.result.runId, 'its configuration', r.heldOut!.find((h) => h.configuration === 'search')!)), ...shared('uniform'), ...shared('dense')];
  return `<p>${escape(title)}</p>${table(['run', 'configuration', ...columns.map((c) => c.label), 'cost'], rows)}`;
}

function provenance(runs: ReportRun[]): string {
  return table(
    ['run', 'experiment', 'strategy', 'status', 'seed', 'fitness', 'best (search)', 'validated', 'cost / budget', 'evaluations', 'wall time', 'evosearch', 'created', 'model and database'],
    runs.map(({ experiment: e, result: r, history }) => [
      r.runId,
      r.experiment,
      r.strategy,
      r.status,
      r.provenance.seed,
      e.fitness.type,
      r.fitness.toPrecision(5),
      r.validation ? r.validation.fitness.toPrecision(5) : '-',
      `${r.cost} / ${r.budget.mode} ${r.budget.total}`,
      r.provenance.evaluations,
      `${((history.at(-1)?.wallMs ?? 0) / 1000).toFixed(1)} s`,
      r.provenance.version,
      r.provenance.createdAt,
      'database' in e.fitness ? `${e.fitness.model} (database ${e.fitness.databaseSha256?.slice(0, 12) ?? 'identity not recorded'})` : '-',
    ]),
  );
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}figure{margin:1em 0;overflow-x:auto}figcaption{color:#555;font-size:.9em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0;display:block;overflow-x:auto}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;white-space:nowrap}th{background:#f3f3f3}`;

/** One self-contained HTML page: inline SVG charts and tables, no script, nothing to load. */
export async function renderReport(runs: ReportRun[], about: { title: string; version: string; db: string; createdAt: string }): Promise<string> {
  const [progress, levels, fronts] = await Promise.all([progressCharts(runs), levelCharts(runs), frontCharts(runs)]);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(about.title)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<style>${STYLE}</style></head>
<body>
<h1>${escape(about.title)}</h1>
<p>${runs.length} run${runs.length === 1 ? '' : 's'} from ${escape(about.db)}; written by evosearch ${escape(about.version)} on ${escape(about.createdAt)}.</p>
<h2>Progress</h2>
${progress.join('\n')}
${fronts.length > 0 ? `<h2>Sweeps</h2>\n${fronts.join('\n')}` : ''}
<h2>Configurations</h2>
${levels.join('\n')}
<h2>Held-out</h2>
${heldOutSection(runs)}
<h2>Provenance</h2>
${provenance(runs)}
</body></html>
`;
}
