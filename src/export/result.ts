import { extname } from 'node:path';
import type { Store } from '../store/store.js';
import type { Experiment } from '../engine/experiment.js';
import { SpaceIndex, type Budget } from '../space/space.js';
import { architectureFlops, architectureParameters } from '../space/architecture.js';
import { UserError } from '../errors.js';
import { defaultTimeout } from '../fitness/types.js';
import { prepare } from '../engine/engine.js';
import { VALIDATED_STATE_SINCE, atLeast } from '../version.js';

/** The exported best configuration of a run: the contract of `evosearch export --format json`. */
export interface RunResult {
  runId: string;
  experiment: string;
  strategy: string;
  status: string;
  /** What the search measured for the exported configuration. */
  fitness: number;
  /** Once the run validated its finalists: the exported one's mean fitness on the held-back slices, and among how many it won. */
  validation?: { fitness: number; slices: number; finalists: number };
  /** Total cost: summed level costs, or an architecture's parameter bytes. */
  cost: number;
  budget: Budget;
  /** Per unit; `cost` is null in an architecture space, whose cost is not a sum over units. */
  units: { name: string; level: number; value: number; cost: number | null }[];
  /** Architecture spaces: the student's parameter count and forward FLOPs (per token or picture). */
  architecture?: { parameters: number; flops: number };
  provenance: { seed: number; evaluations: number; generations: number; version: string; createdAt: string };
}

export function loadExperimentOfRun(store: Store, runId: string): Experiment {
  return upgradeStoredExperiment(JSON.parse(store.requireRun(runId).experiment) as Experiment);
}

/**
 * Runs stored before the image fitnesses named their samples: `windows` were pictures (accuracy)
 * or patches (psnr), and a psnr `length` was the patch side. Renamed on reading, nothing rewritten.
 * Runs stored before `timeout` get its default. Runs stored before `validationSlices` get 0, not
 * its default: they reserved no calibration data, and their search read what they read. Evopress
 * runs stored before `modelLed` get `averaging`, the only model-led mode there was, not today's
 * default: a resumed search moves as it did.
 */
function upgradeStoredExperiment(experiment: Experiment): Experiment {
  if (experiment.strategy.type === 'evopress' && experiment.strategy.modelLed === undefined) experiment.strategy = { ...experiment.strategy, modelLed: 'averaging' };
  if ((experiment.fitness as { timeout?: number }).timeout === undefined) experiment.fitness = { ...experiment.fitness, timeout: defaultTimeout(experiment.fitness) };
  if ((experiment.fitness as { validationSlices?: number }).validationSlices === undefined) experiment.fitness = { ...experiment.fitness, validationSlices: 0 };
  const f = experiment.fitness as unknown as Record<string, unknown>;
  if (f.type === 'accuracy' && 'windows' in f) {
    const { windows, ...rest } = f;
    experiment.fitness = { ...rest, pictures: windows } as unknown as Experiment['fitness'];
  } else if (f.type === 'psnr' && 'windows' in f) {
    const { windows, length, ...rest } = f;
    experiment.fitness = { ...rest, patches: windows, patchSize: length } as unknown as Experiment['fitness'];
  }
  return experiment;
}

export function runResult(store: Store, runId: string): RunResult {
  const run = store.requireRun(runId);
  const experiment = loadExperimentOfRun(store, runId);
  const checkpoint = store.getCheckpoint(runId);
  if (!checkpoint.bestGenome || checkpoint.bestFitness === null) {
    throw new UserError(`run "${runId}" has no evaluated configuration yet; resume it first`);
  }
  const space = new SpaceIndex(experiment.space);
  const genome = checkpoint.bestGenome;
  // Runs made before validation existed have another state shape, and nothing validated.
  const validated = atLeast(run.version, VALIDATED_STATE_SINCE) ? prepare(experiment).strategy.best(JSON.parse(checkpoint.strategyState))?.validation : undefined;
  const sign = experiment.fitness.minimize ? 1 : -1;
  return {
    runId,
    experiment: experiment.name,
    strategy: run.strategy,
    status: run.status,
    fitness: checkpoint.bestFitness,
    ...(validated && { validation: { fitness: sign * validated.score, slices: validated.slices, finalists: validated.finalists } }),
    cost: space.cost(genome),
    budget: experiment.space.budget,
    units: experiment.space.units.map((u, i) => ({ name: u.name, level: genome[i], value: u.levels[genome[i]], cost: space.additive ? u.cost[genome[i]] : null })),
    ...(experiment.space.architecture && {
      architecture: {
        parameters: architectureParameters(experiment.space.architecture, experiment.space.units, genome),
        flops: architectureFlops(experiment.space.architecture, experiment.space.units, genome),
      },
    }),
    provenance: {
      seed: experiment.seed,
      evaluations: checkpoint.evaluations,
      generations: checkpoint.generation,
      version: run.version,
      createdAt: run.createdAt,
    },
  };
}

export type ExportFormat = 'json' | 'csv' | 'evopress';

const FORMAT_OF_EXTENSION: Record<string, ExportFormat> = { '.json': 'json', '.csv': 'csv', '.txt': 'evopress' };
const EXTENSION_OF_FORMAT: Record<ExportFormat, string> = { json: '.json', csv: '.csv', evopress: '.txt' };

/**
 * The format of a configuration written to `out`: `format` when given, else the one its extension
 * names (.json, .csv, .txt for EvoPress's lines), else JSON. A format the extension contradicts is
 * refused rather than written under a misleading name.
 */
export function exportFormat(out: string | undefined, format?: ExportFormat): ExportFormat {
  const implied = out ? FORMAT_OF_EXTENSION[extname(out).toLowerCase()] : undefined;
  if (format && implied && format !== implied) {
    throw new UserError(`--format ${format}: ${out} names a ${implied} file; write ${format} to a ${EXTENSION_OF_FORMAT[format]} file, or leave out --format`);
  }
  return format ?? implied ?? 'json';
}

export function formatResult(result: RunResult, format: ExportFormat): string {
  switch (format) {
    case 'json':
      return JSON.stringify(result, null, 2) + '\n';
    case 'csv':
      return ['name,level,value,cost', ...result.units.map((u) => `${csvField(u.name)},${u.level},${u.value},${u.cost ?? ''}`)].join('\n') + '\n';
    case 'evopress':
      // EvoPress's configuration files: one "layer: level" line per unit.
      return result.units.map((u) => `${u.name}: ${u.level}`).join('\n') + '\n';
  }
}

/** A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180). */
export function csvField(text: string): string {
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
