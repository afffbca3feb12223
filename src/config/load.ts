import { readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { z } from 'zod';
import { UserError } from '../errors.js';
import { checkBudget, type Space } from '../space/space.js';
import { syntheticSpace } from '../fitness/synthetic.js';
import type { FitnessSpec } from '../fitness/types.js';
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

export function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`${file}: cannot read ${what} (${code === 'ENOENT' ? 'no such file' : code})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UserError(`${file}: malformed JSON: ${describeJsonError(text, (err as Error).message)}`);
  }
}

/** JSON.parse reports a character offset; people look for lines. */
function describeJsonError(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  if (!m) return message;
  const offset = Number(m[1]);
  const before = text.slice(0, offset).split('\n');
  return `${message.replace(/ in JSON at position \d+.*$/, '').replace(/ \(line \d+ column \d+\)$/, '')} at line ${before.length} column ${before[before.length - 1].length + 1}`;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${String(part)}` : String(part);
  return out || '(top level)';
}

/** Zod's message, plus the offending value when it is short enough to quote. */
function describeIssue(issue: z.core.$ZodIssue, root: unknown): string {
  let value: unknown = root;
  for (const key of issue.path) value = value && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  const quoted = value === undefined || typeof value === 'object' ? '' : ` (got ${JSON.stringify(value)})`;
  return issue.message + quoted;
}

/** Validates `value` against `schema`, or throws one line naming the file, the JSON path and what was expected. */
export function validate<T extends z.ZodType>(schema: T, value: unknown, file: string, prefix: (string | number)[] = []): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new UserError(`${file}: ${formatPath([...prefix, ...issue.path])}: ${describeIssue(issue, value)}`);
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

export function loadExperiment(path: string): Experiment {
  const file = resolve(path);
  const raw = readJson(file, 'experiment');
  const input = validate(experimentSchema, raw, file);
  const space = loadSpace(input.space, file, ['space']);
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
  } else {
    fitness = f;
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
