import { renameSync, rmSync } from 'node:fs';

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
