import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Budget } from '../space/space.js';
import { UserError, fsReason } from '../errors.js';
import { makeDirectories, writeFileAtomically } from '../files.js';
import { F16_MAX, writeSafetensors } from '../models/safetensors.js';
import type { Matrix } from './linalg.js';
import { defaultCalibrationLength, openTarget } from './targets.js';
import type { Compression, DatabaseConfig } from './config.js';
import { databaseIdentity, filesIntact, keptDatabaseDir, readManifestOrNull, type Manifest, type UnitEntry } from './manifest.js';
import { fileHash, modelHash, sha256 } from './hashing.js';
import { selectLayers, unitName, type LayerLevels } from './levels.js';
import { layerCompressor } from './layer-compressor.js';
import { availableParallelism } from 'node:os';

export type BuildProgress = { stage: 'calibration' | 'units'; done: number; total: number; unit?: string };

/**
 * Builds the database a config describes, or reuses it when manifest.json says it was built from
 * the same config, model and calibration text and every unit file still has its recorded hash.
 * Memory stays at the model plus one unit's levels: each unit is written and dropped in turn.
 */
export async function buildDatabase(config: DatabaseConfig, onProgress: (p: BuildProgress) => void = () => {}, opts: { threads?: number } = {}): Promise<{ manifest: Manifest; reused: boolean; kept: string | null }> {
  const started = Date.now();
  const mHash = await modelHash(config.modelDir);
  const length = config.calibration.length ?? defaultCalibrationLength(config.modelDir);
  // f32 databases keep the identity they had before `dtype` existed.
  const configSha256 = sha256(JSON.stringify({ compression: config.compression, calibration: { ...config.calibration, length }, model: mHash, ...(config.dtype === 'f16' && { dtype: 'f16' }) }));
  const manifestFile = join(config.outDir, 'manifest.json');
  let kept: string | null = null;
  if (existsSync(manifestFile)) {
    const old = readManifestOrNull(config.outDir); // one this version cannot read is rebuilt like a stale one
    // The model just hashed equal to the one it was built from; it is named where it is now (a moved project, another checkout).
    if (old && old.configSha256 === configSha256 && (await filesIntact(config.outDir, old))) return { manifest: { ...old, model: { ...old.model, path: config.modelDir } }, reused: true, kept };
    if (old && old.configSha256 !== configSha256) kept = keepPrevious(config.outDir, old);
    else rmSync(manifestFile);
  }
  try {
    makeDirectories(config.outDir);
  } catch (err) {
    throw new UserError(`${config.source}: out: cannot make ${config.outDir} (${fsReason(err)})`);
  }

  // Only a build needs the weights: reusing a database reads none of them.
  const target = await openTarget(config.modelDir);
  const c = config.compression;
  const needsCalibration = (c.type === 'sparsity' && c.method !== 'magnitude') || (c.type === 'quantization' && c.method === 'gptq');
  let grams: Map<string, Matrix> | null = null;
  let calibration: Manifest['calibration'] = null;
  if (needsCalibration) {
    const total = config.calibration.windows;
    ({ grams, info: calibration } = await target.calibrate(total, length, (done) => onProgress({ stage: 'calibration', done, total })));
  }

  const dense = await target.denseQuality(config.calibration.windows, length);

  const units = c.type === 'drop' ? target.dropUnits(c.granularity) : selectLayers(target.layers, config).map((layer) => ({ layer }));
  const entries: UnitEntry[] = [];
  const uniform: number[] = [];
  const step = c.type === 'sparsity' ? Math.max(1, Math.round(c.step * Math.min(...units.map((u) => ('layer' in u ? u.layer.inFeatures * u.layer.outFeatures : Infinity))))) : 0;
  // SparseGPT and GPTQ layers are compressed on worker threads, one per core; the others are light work.
  const heavy = (c.type === 'sparsity' && c.method === 'sparsegpt') || (c.type === 'quantization' && c.method === 'gptq');
  const compressor = layerCompressor(heavy ? (opts.threads ?? availableParallelism()) : 1);
  // Layers are written in unit order; a few beyond the one written are compressed meanwhile, so memory stays bounded.
  const ahead = compressor.threads;
  const inFlight = new Map<number, Promise<LayerLevels>>();
  const submit = (i: number) => {
    const unit = units[i];
    if (!unit || !('layer' in unit)) return;
    const gram = grams?.get(unit.layer.weight) ?? null;
    grams?.delete(unit.layer.weight); // moved to the task: each Gram is read once
    const levels = compressor.compress({ layer: unit.layer, weight: target.weight(unit.layer.weight).slice(), compression: c, gram, step });
    levels.catch(() => undefined); // awaited in turn below; a failure is thrown there
    inFlight.set(i, levels);
  };
  try {
    for (let i = 0; i < ahead; i++) submit(i);
    for (const [i, unit] of units.entries()) {
      onProgress({ stage: 'units', done: i, total: units.length, unit: 'layer' in unit ? unitName(unit.layer) : unit.name });
      submit(i + ahead);
      if ('layer' in unit) {
        const { entry, tensors, uniformLevel } = await inFlight.get(i)!;
        inFlight.delete(i);
        if (tensors.length > 0) {
          const file = `${unit.layer.weight.replace(/\//g, '.')}.safetensors`;
          const levels = Object.fromEntries(tensors.map(({ level, data }) => [`level.${level}`, { shape: unit.layer.shape, data }]));
          if (config.dtype === 'f16') checkF16Range(tensors, entry.name, config.source);
          writeFileAtomically(join(config.outDir, file), (path) => writeSafetensors(path, levels, { unit: entry.name }, config.dtype === 'f16' ? 'F16' : 'F32'));
          entry.file = file;
          entry.sha256 = await fileHash(join(config.outDir, file));
        }
        entries.push(entry);
        uniform.push(uniformLevel);
      } else {
        entries.push({ name: unit.name, weights: unit.weights, parameters: unit.parameters, file: null, sha256: null, levels: [{ value: 0, cost: 1, method: 'dense', tensors: 'dense' }, { value: 1, cost: 0, method: 'drop', tensors: 'zero' }] });
        uniform.push(0);
      }
    }
  } finally {
    await compressor.close();
  }
  onProgress({ stage: 'units', done: units.length, total: units.length });

  const budget = databaseBudget(c, entries);
  if (c.type === 'drop') uniformDrop(entries, budget.total).forEach((level, i) => (uniform[i] = level));
  const manifest: Manifest = {
    format: 'evosearch-level-db',
    version: 1,
    configSha256,
    compression: c,
    model: { path: config.modelDir, sha256: mHash, family: target.family },
    calibration,
    dense,
    budget,
    uniform,
    units: entries,
    ...(config.dtype === 'f16' && { dtype: 'f16' as const }),
    buildSeconds: (Date.now() - started) / 1000,
  };
  writeFileAtomically(manifestFile, (path) => writeFileSync(path, JSON.stringify(manifest, null, 1) + '\n'));
  return { manifest, reused: false, kept };
}

/**
 * Moves a database that a changed config replaces aside, under its identity, rather than over
 * writing it: the runs made with it find it there ({@link runDatabase}) and never change.
 */
function keepPrevious(dir: string, old: Manifest): string {
  const kept = keptDatabaseDir(dir, databaseIdentity(old));
  if (existsSync(kept)) rmSync(dir, { recursive: true, force: true }); // the same database is kept already
  else renameSync(dir, kept);
  return kept;
}

/** Keeps the first units (ties in a fixed order) and drops the rest: drop databases have no "uniform", this is only the search's start. */
function uniformDrop(entries: UnitEntry[], kept: number): number[] {
  return entries.map((_, i) => (i < kept ? 0 : 1));
}

/** The budget a compression's target fixes over a database's units (a sweep asks it for other targets). */
export function databaseBudget(c: Compression, entries: UnitEntry[]): Budget {
  if (c.type === 'sparsity') {
    // Every unit's uniform level keeps the rounded target: the sum is the exact budget, and steps of equal size keep it.
    const total = entries.reduce((s, e) => s + e.parameters - Math.round(c.target * e.parameters), 0);
    return { mode: 'equal', total, tolerance: 0 };
  }
  if (c.type === 'quantization') {
    // Average bits within [target·(1 − tolerance), target]: an equal budget centred in that band.
    const most = c.target * entries.reduce((s, e) => s + e.parameters, 0);
    return c.tolerance >= 1 ? { mode: 'atMost', total: most } : { mode: 'equal', total: most * (1 - c.tolerance / 2), tolerance: (most * c.tolerance) / 2 };
  }
  return { mode: 'equal', total: entries.length - Math.round(c.target * entries.length), tolerance: 0 };
}

/** Refuses, in one line, a level that float16 cannot hold. */
function checkF16Range(tensors: { level: number; data: Float32Array }[], unit: string, source: string): void {
  for (const { level, data } of tensors) {
    let largest = 0;
    for (const x of data) largest = Math.max(largest, Math.abs(x));
    if (largest > F16_MAX) throw new UserError(`${source}: dtype: level ${level} of ${unit} holds ${largest.toPrecision(3)}, beyond float16's ±${F16_MAX}; use "dtype": "f32"`);
  }
}
