import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { UserError } from './errors.js';

/**
 * Reading and checking the JSON files users hand us (experiments, search spaces, model configs):
 * every failure is one line naming the file, the JSON path and what was expected.
 */
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


/** Numbers users write in JSON: finite ones only (no NaN or ±Infinity smuggled through 1e999). */
export const finite = z.number().refine(Number.isFinite, 'expected a finite number');
export const positiveInt = z.number().int().min(1);
