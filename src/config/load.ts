import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { readJson, validate } from '../validation.js';
import { checkBudget, type Space } from '../space/space.js';
import { syntheticSpace } from '../fitness/synthetic.js';
import type { FitnessSpec } from '../fitness/types.js';
import { buildDatabase, checkDatabaseModel, loadDatabaseConfig, spaceFromManifest, type Manifest } from '../compress/database.js';
import { readTransformerConfig } from '../models/config.js';
import {
  experimentSchema,
  spaceSchema,
  syntheticSpaceSchema,
  type StrategyConfig,
} from './schema.js';

/** An experiment with every reference resolved: what a run stores and what resume replays. */
export interface Experiment {
  name: string;
  seed: number;
  space: Space;
  strategy: StrategyConfig;
  fitness: FitnessSpec;
  workers?: number;
  stop: { maxEvaluations?: number };
  /** The experiment file it came from (absolute), for messages. */
  source: string;
}

export function loadSpace(raw: unknown, file: string, prefix: (string | number)[]): Space {
  if (typeof raw === 'string') {
    const spaceFile = resolve(dirname(file), raw);
    return validate(spaceSchema, readJson(spaceFile, 'search space'), spaceFile) as Space;
  }
  if (raw && typeof raw === 'object' && 'synthetic' in raw) {
    const spec = validate(syntheticSpaceSchema, (raw as { synthetic: unknown }).synthetic, file, [...prefix, 'synthetic']);
    return syntheticSpace(spec);
  }
  return validate(spaceSchema, raw, file, prefix) as Space;
}

/** Builds (or reuses) the level database of a config file; the CLI passes one with a progress bar. */
export type DatabaseBuilder = (configFile: string) => Promise<{ manifest: Manifest; dir: string }>;

const quietBuild: DatabaseBuilder = async (configFile) => {
  const config = loadDatabaseConfig(configFile);
  return { manifest: (await buildDatabase(config)).manifest, dir: config.outDir };
};

export async function loadExperiment(path: string, build: DatabaseBuilder = quietBuild): Promise<Experiment> {
  const file = resolve(path);
  const raw = readJson(file, 'experiment');
  const input = validate(experimentSchema, raw, file);
  let database: { manifest: Manifest; dir: string } | null = null;
  if (typeof input.space === 'object' && 'database' in input.space) database = await build(resolve(dirname(file), input.space.database));
  const space = database ? spaceFromManifest(database.manifest) : loadSpace(input.space, file, ['space']);
  const infeasible = checkBudget(space);
  if (infeasible) throw new UserError(`${file}: space.budget: no configuration can meet the budget: ${infeasible}`);
  const base = dirname(file);
  const f = input.fitness;
  let fitness: FitnessSpec;
  if (f.type === 'module') {
    const modulePath = resolve(base, f.path);
    if (!existsSync(modulePath) || !statSync(modulePath).isFile()) {
      throw new UserError(`${file}: fitness.path: fitness module not found: ${modulePath}`);
    }
    fitness = { ...f, path: modulePath };
  } else if (f.type === 'command') {
    fitness = { ...f, cwd: base };
  } else if (f.type === 'synthetic') {
    fitness = f;
  } else {
    if (!database) throw new UserError(`${file}: space: ${f.type} fitness needs a level database: "space": {"database": "<database config>"}`);
    const model = f.model ? resolve(base, f.model) : database.manifest.model.path;
    // Building or reusing the database has just hashed its own model; another one must match it.
    if (f.model) await checkDatabaseModel(database.dir, database.manifest, model);
    if (f.type === 'psnr' || f.type === 'accuracy') fitness = { ...f, model, database: database.dir };
    else fitness = { ...f, model, length: f.length ?? readTransformerConfig(resolve(model, 'config.json')).contextLength, database: database.dir };
  }
  return {
    name: input.name,
    seed: input.seed,
    space,
    strategy: input.strategy,
    fitness,
    workers: input.workers,
    stop: input.stop,
    source: file,
  };
}
