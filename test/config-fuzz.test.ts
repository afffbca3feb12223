import { describe, expect, it } from 'vitest';
import { cpSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Rng } from '../src/rng/rng.js';
import { UserError } from '../src/errors.js';
import { readExperiment, resolveExperiment } from '../src/config/load.js';
import { loadDatabaseConfig } from '../src/compress/config.js';
import { ROOT, tempDir } from './cli-helpers.js';

/**
 * Random mutations of the shipped experiments, search spaces and database configs, loaded by the
 * real loaders: whatever a user writes, the answer is a UserError that names the file and the
 * field (`<file>: <JSON path>: <what was expected>`), never a crash. Seeded, so that a failure
 * comes back the same on every machine; the failing mutant is printed with the message.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Kind = 'experiment' | 'space' | 'database';

const MUTANTS = 5000;

function jsonFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? jsonFiles(join(dir, e.name)) : e.name.endsWith('.json') ? [join(dir, e.name)] : []));
}

/** The shipped files, by what loads them (a suite's comparison.json describes a benchmark, not an experiment). */
function corpus(root: string): { kind: Kind; file: string }[] {
  const experiments = jsonFiles(join(root, 'experiments')).filter((f) => !f.includes('/databases/') && !f.endsWith('/comparison.json'));
  return [
    ...experiments.map((file) => ({ kind: 'experiment' as const, file })),
    ...jsonFiles(join(root, 'experiments', 'databases')).map((file) => ({ kind: 'database' as const, file })),
    ...jsonFiles(join(root, 'search-spaces')).map((file) => ({ kind: 'space' as const, file })),
  ];
}

const EXTREME_NUMBERS = [1e308, -1e308, 0, -0, -1, 0.5, 2 ** 53, 2 ** 31, 1e9, -1e9, 5e-324];
const STRINGS = ['', ' ', 'x'.repeat(200_000), 'é', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '\u0000', '\ud800', '\u2028', 'a\nb', 'a:b: c', '../', '.', '/', '日本語', '🙂', '\u202eevil', 'NaN', 'Infinity', '1e999', 'null', 'true'];

/** Every place in a JSON tree, as the path of keys that reaches it (the root is []). */
function places(value: Json, path: (string | number)[] = []): (string | number)[][] {
  const here = [path];
  if (Array.isArray(value)) return here.concat(value.flatMap((v, i) => places(v, [...path, i])));
  if (value && typeof value === 'object') return here.concat(Object.entries(value).flatMap(([k, v]) => places(v, [...path, k])));
  return here;
}

function randomValue(rng: Rng, depth = 0): Json {
  switch (rng.int(0, depth > 2 ? 4 : 7)) {
    case 0:
      return rng.pick(EXTREME_NUMBERS);
    case 1:
      return rng.pick(STRINGS);
    case 2:
      return rng.next() < 0.5;
    case 3:
      return null;
    case 4:
      return rng.int(-3, 20);
    case 5:
      return [null, randomValue(rng, depth + 1)];
    case 6:
      return { [rng.pick(['type', 'units', 'budget', 'name', 'x', '', 'a\nb', 'a:b', '日本'])]: randomValue(rng, depth + 1) };
    default:
      return { nested: { deeper: null } };
  }
}

/** A changed value for the place: another type, an extreme, an array where an object was, nulls inside. */
function replacement(rng: Rng, old: Json): Json {
  switch (rng.int(0, 6)) {
    case 0:
      return rng.pick(EXTREME_NUMBERS);
    case 1:
      return rng.pick(STRINGS);
    case 2:
      return old && typeof old === 'object' && !Array.isArray(old) ? Object.values(old) : [old]; // an array where an object (or a scalar) was
    case 3:
      return Array.isArray(old) ? Object.fromEntries(old.map((v, i) => [String(i), v])) : { value: old }; // an object where an array was
    case 4:
      return Array.isArray(old) ? old.map(() => null) : old && typeof old === 'object' ? Object.fromEntries(Object.keys(old).map((k) => [k, null])) : null; // nested nulls
    case 5:
      return typeof old === 'number' ? rng.pick([old * 1e300, -old, old + 0.5, Math.round(old) * 2 ** 40]) : randomValue(rng);
    default:
      return randomValue(rng);
  }
}

/** One random change somewhere in the tree: delete a field or element, replace a value, add a key, duplicate an element. */
function mutate(rng: Rng, root: Json): Json {
  const path = rng.pick(places(root));
  if (path.length === 0) return rng.next() < 0.2 ? replacement(rng, root) : root;
  let parent = root as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, Json>;
  const key = path[path.length - 1];
  const op = rng.int(0, 9);
  if (op <= 2) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else if (op === 3) {
    if (Array.isArray(parent)) parent.push(structuredClone(parent[key as number]));
    else parent[`${String(key)}${rng.pick(['', '_', 'X', '\n', ': ', '🙂'])}extra`] = randomValue(rng);
  } else {
    parent[key] = replacement(rng, parent[key]);
  }
  return root;
}

/** What a rejection must look like: `<file>: <JSON path>: <what>`, where the path names a field (or "(top level)"). */
function namesAField(message: string, files: string[]): boolean {
  return files.some((f) => message.startsWith(`${f}: `) && /^[^:\n]+: /.test(message.slice(f.length + 2))) && !/[\r\n\u2028\u2029]/.test(message);
}

describe('fuzzing the experiment, space and database-config loaders', () => {
  it(`gives ${MUTANTS} mutants of the shipped files a one-line UserError that names a field, or loads them`, { timeout: 120_000 }, async () => {
    // A copy of the files with their neighbours, so that the relative paths they hold still resolve.
    const root = tempDir();
    for (const dir of ['experiments', 'search-spaces']) cpSync(join(ROOT, dir), join(root, dir), { recursive: true });
    const sources = corpus(root).map((s) => ({ ...s, json: JSON.parse(readFileSync(s.file, 'utf8')) as Json }));
    const spaceUser = join(root, 'experiments', 'command', 'experiment.json'); // an experiment that names a space file
    const rng = Rng.fromSeed('config-fuzz');
    const failures: string[] = [];
    const outcomes = { loaded: 0, rejected: 0 };

    for (let i = 0; i < MUTANTS && failures.length < 5; i++) {
      // Each kind a third of the time: there is one space file beside 25 experiments.
      const kind = rng.pick(['experiment', 'space', 'database'] as const);
      const source = rng.pick(sources.filter((s) => s.kind === kind));
      let mutant = structuredClone(source.json);
      for (let n = rng.int(1, 3); n > 0; n--) mutant = mutate(rng, mutant);
      const file = join(source.file, '..', `mutant-${i}.json`);
      writeFileSync(file, JSON.stringify(mutant, null, 2));
      const files = [file];
      try {
        if (source.kind === 'database') {
          loadDatabaseConfig(file);
        } else {
          let experimentFile = file;
          if (source.kind === 'space') {
            // Half the space mutants as a file the experiment names, half inline in it.
            const experiment = JSON.parse(readFileSync(spaceUser, 'utf8'));
            experiment.space = i % 2 === 0 ? relative(join(spaceUser, '..'), file) : mutant;
            experimentFile = join(spaceUser, '..', `uses-mutant-${i}.json`);
            writeFileSync(experimentFile, JSON.stringify(experiment));
            files.push(experimentFile);
          }
          const read = readExperiment(experimentFile);
          // A space that names a level database would build it: stop once the file is read and checked.
          if (!read.databaseConfig) await resolveExperiment(read, null);
        }
        outcomes.loaded++;
      } catch (err) {
        outcomes.rejected++;
        const message = (err as Error).message;
        const what = `mutant ${i} of ${relative(root, source.file)} (${JSON.stringify(mutant).slice(0, 2000)})`;
        if (!(err instanceof UserError)) failures.push(`${what}: crashed: ${(err as Error).stack}`);
        else if (!namesAField(message, files)) failures.push(`${what}: names no field: ${message.slice(0, 500)}`);
      }
    }
    expect(failures).toEqual([]);
    // The mutations reach both sides: some mutants still load, most are refused.
    expect(outcomes.loaded).toBeGreaterThan(MUTANTS / 50);
    expect(outcomes.rejected).toBeGreaterThan(MUTANTS / 2);
  });
});
