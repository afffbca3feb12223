import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Writes a file under a temporary name beside it, then renames it into place: a process killed
 * mid-write leaves the old file (or none), never a half-written one. `write` writes to the path
 * it is given.
 */
export function writeFileAtomically(path: string, write: (temporary: string) => void): void {
  const temporary = `${path}.partial-${process.pid}`;
  try {
    write(temporary);
    renameSync(temporary, path);
  } finally {
    rmSync(temporary, { force: true });
  }
}

/**
 * mkdir -p, one level at a time from the nearest folder that exists. Node's own recursive mkdir
 * never returns under /proc (mkdir says ENOENT, the parent says EEXIST, and it tries again);
 * this throws the first error instead, in Node's "CODE: words" form.
 */
export function makeDirectories(dir: string): void {
  const missing: string[] = [];
  let d = dir;
  for (; !existsSync(d) && d !== dirname(d); d = dirname(d)) missing.unshift(d);
  if (!statSync(d).isDirectory()) throw Object.assign(new Error(`ENOTDIR: ${d} is a file, not a directory`), { code: 'ENOTDIR' });
  for (const m of missing) mkdirSync(m);
}
