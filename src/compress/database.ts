import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import type { Budget, Genome, Space } from '../space/space.js';
import { UserError } from '../errors.js';
import { readJson, validate } from '../validation.js';
import { databaseConfigSchema, type DatabaseConfigInput } from '../config/schema.js';
import { readTensor, writeSafetensors } from '../models/safetensors.js';
import { inverseHessianFactor, matrix, type Matrix } from './linalg.js';
import { defaultCalibrationLength, modelHash, openTarget, type CompressibleLayer, type CompressionTarget } from './targets.js';
import { magnitudePrune, sparseGptPrune, wandaPrune } from './sparsify.js';
import { gptqQuantize, rtnQuantize } from './quantize.js';

/**
 * A level database: for every compressible unit of a model, the tensors of each of its levels,
 * one safetensors file per unit (tensor `level.<i>`), and manifest.json describing every level
 * (value, cost, real sparsity or bits) with the hashes of the model, the calibration text and
 * each file. Levels whose tensors are the dense ones or all zeros (a dropped sub-block) are not
 * stored. The manifest is written last, so a half-built database is never read as a whole one.
 */

export type DatabaseConfig = DatabaseConfigInput & { source: string; modelDir: string; outDir: string };

export interface Level {
  /** What the level means to the user: sparsity (fraction of zeros), bits, or 1 for dropped. */
  value: number;
  /** Weights kept (sparsity), bits stored (quantization) or 1 per kept sub-block (drop). */
  cost: number;
  /** How its tensors were made: the database's method, `dense` (untouched) or `drop`. */
  method: string;
  tensors: 'file' | 'dense' | 'zero';
}

export interface UnitEntry {
  name: string;
  /** The model weights this unit replaces. */
  weights: string[];
  parameters: number;
  file: string | null;
  sha256: string | null;
  levels: Level[];
}

export interface Manifest {
  format: 'evosearch-level-db';
  version: 1;
  configSha256: string;
  compression: DatabaseConfigInput['compression'];
  model: { path: string; sha256: string; family: string };
  calibration: { corpus: string; windows: number; length: number; sha256: string } | null;
  budget: Budget;
  uniform: Genome;
  units: UnitEntry[];
  buildSeconds: number;
}

export function loadDatabaseConfig(path: string): DatabaseConfig {
  const source = resolve(path);
  const input = validate(databaseConfigSchema, readJson(source, 'database config'), source);
  return { ...input, source, modelDir: resolve(dirname(source), input.model), outDir: resolve(dirname(source), input.out) };
}

export { modelHash };

export type BuildProgress = { stage: 'calibration' | 'units'; done: number; total: number; unit?: string };

/**
 * Builds the database a config describes, or reuses it when manifest.json says it was built from
 * the same config, model and calibration text and every unit file still has its recorded hash.
 * Memory stays at the model plus one unit's levels: each unit is written and dropped in turn.
 */
export async function buildDatabase(config: DatabaseConfig, onProgress: (p: BuildProgress) => void = () => {}): Promise<{ manifest: Manifest; reused: boolean }> {
  const started = Date.now();
  const mHash = await modelHash(config.modelDir);
  const length = config.calibration.length ?? defaultCalibrationLength(config.modelDir);
  const configSha256 = sha256(JSON.stringify({ compression: config.compression, calibration: { ...config.calibration, length }, model: mHash }));
  const manifestFile = join(config.outDir, 'manifest.json');
  if (existsSync(manifestFile)) {
    const old = readManifestOrNull(config.outDir); // one this version cannot read is rebuilt like a stale one
    if (old && old.configSha256 === configSha256 && (await filesIntact(config.outDir, old))) return { manifest: old, reused: true };
    rmSync(manifestFile);
  }
  mkdirSync(config.outDir, { recursive: true });

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

  const units = c.type === 'drop' ? target.dropUnits(c.granularity) : selectLayers(target.layers, config).map((layer) => ({ layer }));
  const entries: UnitEntry[] = [];
  const uniform: number[] = [];
  const step = c.type === 'sparsity' ? Math.max(1, Math.round(c.step * Math.min(...units.map((u) => ('layer' in u ? u.layer.inFeatures * u.layer.outFeatures : Infinity))))) : 0;
  for (const [i, unit] of units.entries()) {
    onProgress({ stage: 'units', done: i, total: units.length, unit: 'layer' in unit ? unit.layer.weight : unit.name });
    if ('layer' in unit) {
      const { entry, tensors, uniformLevel } = compressLayer(target, unit.layer, c, grams?.get(unit.layer.weight) ?? null, step);
      if (tensors.length > 0) {
        const file = `${unit.layer.weight.replace(/\//g, '.')}.safetensors`;
        const tmp = join(config.outDir, `${file}.tmp`);
        writeSafetensors(tmp, Object.fromEntries(tensors.map(({ level, data }) => [`level.${level}`, { shape: unit.layer.shape, data }])), { unit: entry.name });
        renameSync(tmp, join(config.outDir, file));
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
    budget,
    uniform,
    units: entries,
    buildSeconds: (Date.now() - started) / 1000,
  };
  writeFileSync(`${manifestFile}.tmp`, JSON.stringify(manifest, null, 1) + '\n');
  renameSync(`${manifestFile}.tmp`, manifestFile);
  return { manifest, reused: false };
}

/** Keeps the first units (ties in a fixed order) and drops the rest: drop databases have no "uniform", this is only the search's start. */
function uniformDrop(entries: UnitEntry[], kept: number): number[] {
  return entries.map((_, i) => (i < kept ? 0 : 1));
}

function databaseBudget(c: DatabaseConfigInput['compression'], entries: UnitEntry[]): Budget {
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

/** A layer's unit name: its weight's name without ".weight" or "/kernel". */
const unitName = (layer: CompressibleLayer) => layer.weight.replace(/[./](weight|kernel)$/, '');

function selectLayers(layers: CompressibleLayer[], config: DatabaseConfig): CompressibleLayer[] {
  if (!config.units) return layers;
  const unknown = config.units.filter((name) => !layers.some((l) => unitName(l) === name));
  if (unknown.length) throw new UserError(`${config.source}: units: no compressible layer named ${unknown.map((u) => `"${u}"`).join(', ')} (layers: ${layers.map(unitName).join(', ')})`);
  return layers.filter((l) => config.units!.includes(unitName(l)));
}

/** A weight in HF layout → float64 [out × in], the orientation every compression method works in. */
function asRowsOut(data: Float32Array, layer: CompressibleLayer): Matrix {
  const { inFeatures: n, outFeatures: m } = layer;
  const out = matrix(m, n);
  if (layer.layout === 'outIn') out.data.set(data);
  else for (let i = 0; i < n; i++) for (let o = 0; o < m; o++) out.data[o * n + i] = data[i * m + o];
  return out;
}

function fromRowsOut(w: Matrix, layer: CompressibleLayer): Float32Array {
  const { inFeatures: n, outFeatures: m } = layer;
  if (layer.layout === 'outIn') return Float32Array.from(w.data);
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) for (let o = 0; o < m; o++) out[i * m + o] = w.data[o * n + i];
  return out;
}

function compressLayer(target: CompressionTarget, layer: CompressibleLayer, c: DatabaseConfigInput['compression'], gram: Matrix | null, step: number) {
  const numel = layer.inFeatures * layer.outFeatures;
  const w = asRowsOut(target.weight(layer.weight), layer);
  const entry: UnitEntry = { name: unitName(layer), weights: [layer.weight], parameters: numel, file: null, sha256: null, levels: [] };
  const tensors: { level: number; data: Float32Array }[] = [];
  let uniformLevel = 0;
  const factor = () => inverseHessianFactor(gram!, c.type === 'drop' ? 0 : c.damping);
  if (c.type === 'sparsity') {
    const centre = Math.round(c.target * numel);
    const u = c.method === 'sparsegpt' ? factor() : null;
    const norms = c.method === 'wanda' ? Float64Array.from({ length: layer.inFeatures }, (_, j) => Math.sqrt(gram!.data[j * layer.inFeatures + j])) : null;
    for (let k = -c.stepsEachSide; k <= c.stepsEachSide; k++) {
      const pruned = centre + k * step;
      if (pruned < 0 || pruned > numel) continue;
      if (k === 0) uniformLevel = entry.levels.length;
      const level = entry.levels.length;
      if (pruned === 0) {
        entry.levels.push({ value: 0, cost: numel, method: 'dense', tensors: 'dense' });
        continue;
      }
      const result = c.method === 'magnitude' ? magnitudePrune(w, pruned) : c.method === 'wanda' ? wandaPrune(w, norms!, pruned) : sparseGptPrune(w, u!, pruned, c.blockSize);
      const data = fromRowsOut(result, layer);
      const zeros = data.reduce((s, x) => s + (x === 0 ? 1 : 0), 0);
      entry.levels.push({ value: zeros / numel, cost: numel - zeros, method: c.method, tensors: 'file' });
      tensors.push({ level, data });
    }
  } else if (c.type === 'quantization') {
    const u = c.method === 'gptq' ? factor() : null;
    const bits = [...c.bits].sort((a, b) => a - b);
    for (const b of bits) {
      const result = c.method === 'rtn' ? rtnQuantize(w, b, c.group) : gptqQuantize(w, u!, b, c.group);
      tensors.push({ level: entry.levels.length, data: fromRowsOut(result, layer) });
      entry.levels.push({ value: b, cost: b * numel, method: c.method, tensors: 'file' });
    }
    const atTarget = bits.filter((b) => b <= c.target);
    uniformLevel = Math.max(0, bits.indexOf(atTarget[atTarget.length - 1] ?? bits[0]));
  }
  return { entry, tensors, uniformLevel };
}

const manifestSchema = z.looseObject({
  format: z.literal('evosearch-level-db'),
  version: z.literal(1),
  configSha256: z.string(),
  model: z.looseObject({ path: z.string(), sha256: z.string(), family: z.string() }),
  budget: z.union([
    z.strictObject({ mode: z.literal('atMost'), total: z.number() }),
    z.strictObject({ mode: z.literal('equal'), total: z.number(), tolerance: z.number() }),
  ]),
  uniform: z.array(z.number().int().min(0)),
  units: z
    .array(
      z.strictObject({
        name: z.string(),
        weights: z.array(z.string()).min(1),
        parameters: z.number(),
        file: z.string().nullable(),
        sha256: z.string().nullable(),
        levels: z.array(z.strictObject({ value: z.number(), cost: z.number(), method: z.string(), tensors: z.enum(['file', 'dense', 'zero']) })).min(1),
      }),
    )
    .min(1),
});

export function readManifest(dir: string): Manifest {
  const file = join(dir, 'manifest.json');
  if (!existsSync(file)) throw new UserError(`${file}: no level database here (build one with: evosearch db build <config>)`);
  return validate(manifestSchema, readJson(file, 'level database manifest'), file) as unknown as Manifest;
}

function readManifestOrNull(dir: string): Manifest | null {
  try {
    return readManifest(dir);
  } catch (err) {
    if (err instanceof UserError) return null;
    throw err;
  }
}

/** The search space a database defines: one unit per entry, its levels and costs, the budget its target fixes. */
export function spaceFromManifest(manifest: Manifest): Space {
  return {
    units: manifest.units.map((u) => ({ name: u.name, levels: u.levels.map((l) => l.value), cost: u.levels.map((l) => l.cost) })),
    budget: manifest.budget,
    uniform: manifest.uniform,
  };
}

/** {@link checkDatabaseModel} for a stored run's database directory. */
export async function checkRunDatabase(dir: string, modelDir: string): Promise<void> {
  await checkDatabaseModel(dir, readManifest(dir), modelDir);
}

/**
 * Throws a one-line error unless the database was built from the model in `modelDir` (the same
 * bytes of every model file). Checked once by the coordinator, not by every worker.
 */
export async function checkDatabaseModel(dir: string, manifest: Manifest, modelDir: string): Promise<void> {
  const actual = await modelHash(modelDir);
  if (actual !== manifest.model.sha256) {
    throw new UserError(
      `${join(dir, 'manifest.json')}: model.sha256: the database was built for a model with hash ${manifest.model.sha256.slice(0, 12)}…, but ${modelDir} has ${actual.slice(0, 12)}… (rebuild it with evosearch db build)`,
    );
  }
}

/** The stored tensor of one level (a level whose `tensors` is "file"), read alone from its unit's file. */
export function readLevel(dir: string, manifest: Manifest, unit: number, level: number, shape: number[]): Float32Array {
  const entry = manifest.units[unit];
  if (!entry.file || entry.levels[level]?.tensors !== 'file') throw new Error(`bug: level ${level} of ${entry.name} has no stored tensor`);
  return readTensor(join(dir, entry.file), `level.${level}`, shape);
}

/** Every stored level of one unit: level index → tensor. */
export function readUnitLevels(dir: string, manifest: Manifest, unit: number, shapes: Map<string, number[]>): Map<number, Float32Array> {
  const shape = shapes.get(manifest.units[unit].weights[0])!;
  const out = new Map<number, Float32Array>();
  manifest.units[unit].levels.forEach((l, i) => {
    if (l.tensors === 'file') out.set(i, readLevel(dir, manifest, unit, i, shape));
  });
  return out;
}

async function filesIntact(dir: string, manifest: Manifest): Promise<boolean> {
  for (const u of manifest.units) {
    if (!u.file) continue;
    const file = join(dir, u.file);
    if (!existsSync(file) || !statSync(file).isFile() || (await fileHash(file)) !== u.sha256) return false;
  }
  return true;
}

async function fileHash(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
