import { accessSync, constants, existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError, fsReason } from '../errors.js';
import { makeDirectories, writeFileAtomically } from '../files.js';

/**
 * Where --out writes: one line naming the path and the reason when it cannot, never Node's
 * EEXIST or ENOTDIR stack. Parent directories are made as needed.
 */
export function writeOut(path: string, text: string): void {
  try {
    makeDirectories(dirname(path));
    writeFileAtomically(path, (temporary) => writeFileSync(temporary, text));
  } catch (err) {
    throw new UserError(`--out: ${path}: cannot write it (${whyUnwritable(path, err)})`);
  }
}

/** The directory an export of model files goes to (--out DIR), made if needed and checked writable. */
export function makeOutDir(dir: string): void {
  try {
    makeDirectories(dir);
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new UserError(`--out: ${dir}: cannot write there (${whyUnwritable(join(dir, 'file'), err)})`);
  }
}

/**
 * Refuses up front an --out that surely cannot be written (a file where a directory must be, a
 * folder it may not write to), so that a long run does not end on it. The write itself still
 * checks: some places (/proc, a full disk) refuse only when written to.
 */
export function checkOutPath(path: string): void {
  if (existsSync(path) && statSync(path).isDirectory()) throw new UserError(`--out: ${path}: a directory, expected a file name`);
  const dir = nearestExisting(dirname(path));
  if (!statSync(dir).isDirectory()) throw new UserError(`--out: ${path}: cannot write it (${dir} is a file, not a directory)`);
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new UserError(`--out: ${path}: cannot write it (${dir}: ${fsReason(err)})`);
  }
}

function nearestExisting(dir: string): string {
  while (!existsSync(dir) && dir !== dirname(dir)) dir = dirname(dir);
  return dir;
}

/** Why a path could not be written: a file where a directory must be, else what the system said. */
function whyUnwritable(path: string, err: unknown): string {
  const dir = nearestExisting(dirname(path));
  return existsSync(dir) && !statSync(dir).isDirectory() ? `${dir} is a file, not a directory` : fsReason(err);
}
