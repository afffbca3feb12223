import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Budget, Genome, Space } from '../space/space.js';
import { budgetSchema } from '../space/schema.js';
import { UserError } from '../errors.js';
import { readJson, validate } from '../validation.js';
import { readTensor } from '../models/safetensors.js';
import type { Compression } from './config.js';
import type { DenseQuality } from './targets.js';
import { fileHash, modelHash, sha256 } from './hashing.js';

/**
 * A level database: for every compressible unit of a model, the tensors of each of its levels,
 * one safetensors file per unit (tensor `level.<i>`), and manifest.json describing every level
 * (value, cost, real sparsity or bits) with the hashes of the model, the calibration text and
 * each file. Levels whose tensors are the dense ones or all zeros (a dropped sub-block) are not
 * stored. The manifest is written last, so a half-built database is never read as a whole one.
 */

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
  compression: Compression;
  model: { path: string; sha256: string; family: string };
  calibration: { corpus: string; windows: number; length: number; sha256: string } | null;
  /** The dense model on calibration samples (a language model's perplexity): a broken model shows here. Absent in databases built before it was recorded. */
  dense?: DenseQuality | null;
  budget: Budget;
  uniform: Genome;
  units: UnitEntry[];
  /** Level tensors stored as float16 (absent: float32). */
  dtype?: 'f16';
  buildSeconds: number;
}

const manifestSchema = z.looseObject({
  format: z.literal('evosearch-level-db'),
  version: z.literal(1),
  configSha256: z.string(),
  model: z.looseObject({ path: z.string(), sha256: z.string(), family: z.string() }),
  budget: budgetSchema,
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

export function readManifestOrNull(dir: string): Manifest | null {
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

/**
 * What a database holds, whatever its path and however long it took to build: the config it was
 * built from, the model's hash, the levels and the hash of every layer file. A run records it, and
 * refuses to go on with a database that no longer has it.
 */
export function databaseIdentity(m: Manifest): string {
  const { configSha256, compression, calibration, budget, uniform, units } = m;
  return sha256(JSON.stringify({ configSha256, model: m.model.sha256, compression, calibration, budget, uniform, units }));
}

/** Where `db build` keeps a database that a changed config replaces, so that the runs made with it keep working. */
export const keptDatabaseDir = (dir: string, identity: string) => `${dir}@${identity.slice(0, 12)}`;

/** Whether every unit file still has the hash the manifest recorded. */
export async function filesIntact(dir: string, manifest: Manifest): Promise<boolean> {
  for (const u of manifest.units) {
    if (!u.file) continue;
    const file = join(dir, u.file);
    if (!existsSync(file) || !statSync(file).isFile() || (await fileHash(file)) !== u.sha256) return false;
  }
  return true;
}

/**
 * The directory of the database a stored run was made with: its own directory while that still
 * holds the same database, else the copy `db build` kept when a changed config replaced it.
 * Otherwise one line naming the database and the run: a stored run never changes after the fact.
 * Runs stored before identities were recorded are checked against their model only.
 */
export async function runDatabase(runId: string, spec: { database: string; model: string; databaseSha256?: string }): Promise<string> {
  const recorded = spec.databaseSha256;
  const candidates = recorded ? [spec.database, keptDatabaseDir(spec.database, recorded)] : [spec.database];
  for (const dir of candidates) {
    const manifest = readManifestOrNull(dir);
    if (!manifest || (recorded && databaseIdentity(manifest) !== recorded)) continue;
    if (!(await filesIntact(dir, manifest))) {
      throw new UserError(`${dir}: a layer file of the level database of run "${runId}" has changed since it was built (rebuild the database with evosearch db build, then start a new run)`);
    }
    await checkDatabaseModel(dir, manifest, spec.model);
    return dir;
  }
  if (!recorded) readManifest(spec.database); // says what is missing
  throw new UserError(
    `${join(spec.database, 'manifest.json')}: run "${runId}" was made with another level database (identity ${recorded!.slice(0, 12)}…), which was rebuilt since and is not kept in ${keptDatabaseDir(spec.database, recorded!)}; the run can no longer be resumed or exported`,
  );
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
