import type { Space } from '../space/space.js';
import { fileHash, modelHash } from '../compress/hashing.js';
import { databaseIdentity, filesIntact, readManifest } from '../compress/manifest.js';
import type { FitnessSpec } from './types.js';

/** A file (or model directory, or level database) whose bytes decide a fitness's values, and their hash. */
export interface FileIdentity {
  what: string;
  path: string;
  sha256: string;
}

/**
 * The content hashes of everything a fitness reads that decides its values: a fitness module's
 * file, the model directory, the level database (its identity, and with `checkLayerFiles` every
 * layer file against it) and an architecture space's teacher. Two machines that compute the same
 * list compute the same fitness values. A command fitness's program is named by its argv, which a
 * worker must allow explicitly; its files are the program's business.
 */
export async function fitnessFiles(spec: FitnessSpec, space: Space, { checkLayerFiles }: { checkLayerFiles: boolean }): Promise<FileIdentity[]> {
  const files: FileIdentity[] = [];
  if (spec.type === 'module') files.push({ what: 'fitness module', path: spec.path, sha256: await fileHash(spec.path) });
  if ('database' in spec) {
    const manifest = readManifest(spec.database);
    const identity = databaseIdentity(manifest);
    if (checkLayerFiles && !(await filesIntact(spec.database, manifest))) files.push({ what: 'level database (a layer file changed since it was built)', path: spec.database, sha256: 'changed' });
    else files.push({ what: 'level database', path: spec.database, sha256: identity });
    files.push({ what: 'model', path: spec.model, sha256: await modelHash(spec.model) });
  }
  const teacher = space.architecture?.teacher;
  if (teacher) files.push({ what: 'teacher model', path: teacher.path, sha256: await modelHash(teacher.path) });
  return files;
}
