import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { UnreadableFile, formatPath, readJson, validate } from '../validation.js';
import { checkBudget, type Space } from '../space/space.js';
import { spaceSchema } from '../space/schema.js';
import { syntheticSpace, syntheticSpaceSchema } from '../space/synthetic.js';
import type { FitnessSpec } from '../fitness/types.js';
import { spaceFromManifest, checkDatabaseModel, databaseIdentity, type Manifest } from '../compress/manifest.js';
import { readTransformerConfig } from '../models/config.js';
import type { Experiment } from '../engine/experiment.js';
import { experimentSchema, spaceReferenceSchema, type ExperimentInput } from './schema.js';
import { resolveArchitectureSpace } from './architecture.js';
import { strategySpaceProblem } from '../strategies/index.js';
import { sweepPoints } from './sweep.js';

/** An experiment file read and checked, with nothing built yet. */
export interface ExperimentFile {
  /** The file (absolute). */
  file: string;
  input: ExperimentInput;
  /** The level database config its space names (absolute), which must be built or reused before it can be resolved. */
  databaseConfig: string | null;
}

/** A level database as its builder hands it over: the manifest and the directory. */
export interface BuiltDatabase {
  manifest: Manifest;
  dir: string;
}

export function readExperiment(path: string): ExperimentFile {
  const file = resolve(path);
  const checked = validate(experimentSchema, readJson(file, 'experiment'), file);
  const input = { ...checked, space: validate(spaceReferenceSchema(checked.space), checked.space, file, ['space']) };
  const databaseConfig = typeof input.space === 'object' && 'database' in input.space ? resolve(dirname(file), input.space.database) : null;
  return { file, input, databaseConfig };
}

export function loadSpace(raw: unknown, file: string, prefix: (string | number)[]): Space {
  if (typeof raw === 'string') {
    const spaceFile = resolve(dirname(file), raw);
    // A file that cannot be read is the experiment's mistake (its `space`); one that reads is checked as itself.
    let text: unknown;
    try {
      text = readJson(spaceFile, 'search space');
    } catch (err) {
      if (err instanceof UnreadableFile) throw new UserError(`${file}: ${formatPath(prefix)}: cannot read search space ${spaceFile} (${err.reason})`);
      throw err;
    }
    return validate(spaceSchema, text, spaceFile);
  }
  if (raw && typeof raw === 'object' && 'synthetic' in raw) {
    const spec = validate(syntheticSpaceSchema, (raw as { synthetic: unknown }).synthetic, file, [...prefix, 'synthetic']);
    return syntheticSpace(spec);
  }
  return validate(spaceSchema, raw, file, prefix);
}

/**
 * The experiment with every reference resolved against its file: the space, the fitness module or
 * command, and the model and level database of a model fitness. `database` is the one its space
 * names, built or reused by the caller (`run` does it, with progress); this never builds anything.
 */
export async function resolveExperiment({ file, input, databaseConfig }: ExperimentFile, database: BuiltDatabase | null): Promise<Experiment> {
  if (databaseConfig && !database) throw new Error(`bug: ${file} names a level database that was not built`);
  const isArchitecture = typeof input.space === 'object' && 'architecture' in input.space;
  const space = database ? spaceFromManifest(database.manifest) : isArchitecture ? await resolveArchitectureSpace(input.space, file, ['space']) : loadSpace(input.space, file, ['space']);
  const infeasible = checkBudget(space);
  if (infeasible) throw new UserError(`${file}: space.budget: no configuration can meet the budget: ${infeasible}`);
  const unsuitable = strategySpaceProblem(input.strategy, space);
  if (unsuitable) throw new UserError(`${file}: strategy.type: ${unsuitable}`);
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
  } else if (f.type === 'flops' || f.type === 'distill' || f.type === 'train') {
    if (!space.architecture) throw new UserError(`${file}: space: ${f.type} fitness needs an architecture space: "space": {"architecture": {...}, "budget": {"atMost": "1/10"}}`);
    const family = { distill: 'gpt2', train: 'cnn', flops: space.architecture.family }[f.type];
    if (space.architecture.family !== family) throw new UserError(`${file}: fitness.type: ${f.type} trains ${family} students, but space.architecture.family is ${space.architecture.family}`);
    fitness = f;
  } else {
    if (!database) throw new UserError(`${file}: space: ${f.type} fitness needs a level database: "space": {"database": "<database config>"}`);
    const model = f.model ? resolve(base, f.model) : database.manifest.model.path;
    // Building or reusing the database has just hashed its own model; another one must match it.
    if (f.model) await checkDatabaseModel(database.dir, database.manifest, model);
    const files = { model, database: database.dir, databaseSha256: databaseIdentity(database.manifest) };
    if (f.type === 'psnr' || f.type === 'accuracy') fitness = { ...f, ...files };
    else fitness = { ...f, ...files, length: f.length ?? readTransformerConfig(resolve(model, 'config.json')).contextLength };
  }
  return {
    name: input.name,
    seed: input.seed,
    space,
    strategy: input.strategy,
    fitness,
    workers: input.workers,
    stop: input.stop,
    ...(input.remote && { remote: input.remote }),
    ...(input.sweep && { sweep: sweepPoints(input.sweep, space, sweepForm(input, database), file) }),
    source: file,
  };
}

/** What a sweep's values mean, by the form the experiment gives its space in. */
function sweepForm(input: ExperimentInput, database: BuiltDatabase | null): Parameters<typeof sweepPoints>[2] {
  if (database) return { manifest: database.manifest };
  const space = input.space;
  if (typeof space === 'object' && 'synthetic' in space) return { synthetic: syntheticSpaceSchema.parse(space.synthetic) };
  return typeof space === 'object' && 'architecture' in space ? 'architecture' : 'inline';
}
