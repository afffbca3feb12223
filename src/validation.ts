import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { UserError, fsReason } from './errors.js';

/** A file that cannot be read at all: where another file names it, that name is the mistake. */
export class UnreadableFile extends UserError {
  constructor(
    readonly file: string,
    readonly what: string,
    readonly reason: string,
  ) {
    super(`${file}: cannot read ${what} (${reason})`);
  }
}

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
    throw new UnreadableFile(file, what, code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory' : fsReason(err));
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UserError(`${file}: malformed JSON: ${describeJsonError(text, (err as Error).message)}`);
  }
}

/**
 * JSON.parse's message with the line and column people look for. Most of V8's messages give a
 * character offset; "Unexpected token 'N', ..."[NaN]"... is not valid JSON" and "Unexpected end
 * of JSON input" do not, so the offset is then found by scanning the text.
 */
function describeJsonError(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  const offset = m ? Number(m[1]) : jsonErrorOffset(text);
  const what = message
    .replace(/ in JSON at position \d+.*$/s, '')
    .replace(/ \(line \d+ column \d+\)$/, '')
    .replace(/, (?:"|\.\.\.").*is not valid JSON$/s, ''); // V8 quotes the text around the token: the line and column say where
  if (offset < 0) return what;
  const before = text.slice(0, offset).split('\n');
  const notJson = /^(NaN|Infinity)/.exec(text.slice(offset, offset + 8));
  return `${what} at line ${before.length} column ${before[before.length - 1].length + 1}${notJson ? ` (${notJson[1]} is not JSON: write a number)` : ''}`;
}

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

/** The offset of the first character that makes `text` invalid JSON (text.length when it ends too soon), or -1. */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const fail = (): never => {
    throw i;
  };
  const space = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const expect = (char: string) => (text[i] === char ? i++ : fail());
  const string = () => {
    expect('"');
    while (text[i] !== '"') {
      if (i >= text.length || text[i] < ' ') fail();
      if (text[i] === '\\') {
        i++;
        if (text[i] === 'u') {
          for (let k = 0; k < 4; k++) if (!/[0-9a-fA-F]/.test(text[++i] ?? '')) fail();
        } else if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) {
          fail();
        }
      }
      i++;
    }
    i++;
  };
  const digits = () => {
    if (!isDigit(text[i])) fail();
    while (isDigit(text[i])) i++;
  };
  const number = () => {
    if (text[i] === '-') i++;
    if (text[i] === '0') i++;
    else digits();
    if (text[i] === '.') {
      i++;
      digits();
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      digits();
    }
  };
  const value = (): void => {
    space();
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      space();
      if (text[i] === close) return void i++;
      for (;;) {
        if (c === '{') {
          space();
          string();
          space();
          expect(':');
        }
        value();
        space();
        if (text[i] === close) return void i++;
        expect(',');
      }
    }
    if (c === '"') return string();
    if (c === '-' || isDigit(c)) return number();
    const word = ['true', 'false', 'null'].find((w) => w[0] === c);
    if (!word) fail();
    for (const char of word!) expect(char);
  };
  try {
    value();
    space();
    return i < text.length ? i : -1;
  } catch (offset) {
    return typeof offset === 'number' ? offset : -1; // nesting too deep to scan: no position
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${String(part)}` : String(part);
  return out || '(top level)';
}

/** Zod's message, plus the offending value when it is short enough to quote. */
function describeIssue(issue: z.core.$ZodIssue, root: unknown): string {
  let value: unknown = root;
  for (const key of issue.path) value = value && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  return issue.message + quote(value);
}

/** " (got 1.5)", " (got Infinity)" (which JSON.stringify would write as null), or a length for a long string. */
function quote(value: unknown): string {
  if (value === undefined || typeof value === 'object') return '';
  if (typeof value === 'number' && !Number.isFinite(value)) return ` (got ${value})`;
  const text = JSON.stringify(value);
  return text.length <= 80 ? ` (got ${text})` : ` (got a string of ${(value as string).length} characters)`;
}

/** Validates `value` against `schema`, or throws one line naming the file, the JSON path and what was expected. */
export function validate<T extends z.ZodType>(schema: T, value: unknown, file: string, prefix: (string | number)[] = []): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new UserError(`${file}: ${formatPath([...prefix, ...issue.path])}: ${describeIssue(issue, value)}`);
}


/**
 * Numbers users write in JSON: finite ones only (no ±Infinity smuggled through 1e999). Zod's own
 * z.number() refuses NaN and ±Infinity already, but as "expected number, received Infinity".
 */
export const finite = z.number({ error: 'expected a finite number' });
export const positiveInt = z.number().int().min(1);
