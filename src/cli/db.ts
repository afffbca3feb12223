import cliProgress from 'cli-progress';
import { buildDatabase, type BuildProgress } from '../compress/build.js';
import { loadDatabaseConfig } from '../compress/config.js';
import type { Manifest } from '../compress/manifest.js';
import { readExperiment, resolveExperiment } from '../config/load.js';
import type { Experiment } from '../engine/experiment.js';

/** `evosearch db build`: builds (or reuses) a level database, with a progress bar on a TTY. */
export async function buildDatabaseCommand(configFile: string, quiet: boolean, threads?: number): Promise<{ manifest: Manifest; reused: boolean; dir: string }> {
  const config = loadDatabaseConfig(configFile);
  const bar = !quiet && process.stderr.isTTY ? new cliProgress.SingleBar({ format: 'db {stage} {bar} {value}/{total} {unit}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic) : null;
  const lines = quiet || bar ? null : progressLines();
  let stage = '';
  const onProgress = (p: BuildProgress) => {
    if (!bar) return lines?.(p);
    if (p.stage !== stage) {
      if (stage) bar.stop();
      bar.start(p.total, p.done, { stage: p.stage, unit: p.unit ?? '' });
      stage = p.stage;
    } else bar.update(p.done, { stage: p.stage, unit: p.unit ?? '' });
  };
  let built: Awaited<ReturnType<typeof buildDatabase>>;
  try {
    built = await buildDatabase(config, onProgress, { threads });
  } finally {
    bar?.stop();
  }
  if (built.kept && !quiet) process.stderr.write(`db: the previous database of ${config.outDir} (another config) is kept for the runs made with it: ${built.kept}\n`);
  return { manifest: built.manifest, reused: built.reused, dir: config.outDir };
}

/**
 * Progress without a terminal (a log, CI): a line as each unit starts, and calibration every 10%
 * of its samples (every sample when there are at most ten), so that a long build is never silent.
 */
function progressLines(): (p: BuildProgress) => void {
  let printed = 0;
  return (p) => {
    if (p.stage === 'units') {
      if (p.unit !== undefined) process.stderr.write(`db: units ${p.done + 1}/${p.total} ${p.unit}\n`);
      return;
    }
    const tenth = (done: number) => Math.floor((10 * done) / p.total);
    if (p.done > printed && (p.total <= 10 || tenth(p.done) > tenth(printed) || p.done === p.total)) {
      process.stderr.write(`db: calibration ${p.done}/${p.total}\n`);
      printed = p.done;
    }
  };
}

/**
 * An experiment file, resolved; the level database its space names is built first (or reused),
 * with progress unless `quiet`. `sweep` (the command line's --sweep) replaces the file's.
 */
export async function loadExperiment(path: string, quiet = true, sweep?: (number | string)[]): Promise<Experiment> {
  const read = readExperiment(path);
  if (sweep) read.input.sweep = sweep;
  const database = read.databaseConfig ? await buildDatabaseCommand(read.databaseConfig, quiet) : null;
  return resolveExperiment(read, database);
}

export function describeManifest(m: Manifest): string {
  const c = m.compression;
  const what = c.type === 'sparsity' ? `${c.method} sparsity around ${c.target}` : c.type === 'quantization' ? `${c.method} ${c.bits.join('/')} bits, average ≤ ${c.target}` : `${c.granularity} drops, ${c.target} dropped`;
  const levels = m.units.reduce((s, u) => s + u.levels.length, 0);
  const dense = m.dense ? `; dense ${m.dense.metric} ${m.dense.value.toFixed(3)} on ${m.dense.samples} calibration windows of ${m.dense.length} tokens` : '';
  return `${what}: ${m.units.length} units, ${levels} levels${m.dtype === 'f16' ? ' stored as float16' : ''}, budget ${m.budget.mode} ${m.budget.total}${dense}`;
}
