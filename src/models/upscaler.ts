import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * Where npm put @upscalerjs/default-model (an RDN ×2 super-resolution net, MIT): its LayersModel is
 * in `models/`, its sample image and the package's own output for it in `assets/`. The package's
 * `exports` hide package.json, so the root is found by walking up from its entry point.
 */
export function upscalerPackageDir(): string {
  let dir = dirname(createRequire(import.meta.url).resolve('@upscalerjs/default-model'));
  while (!(existsSync(join(dir, 'package.json')) && JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name === '@upscalerjs/default-model')) {
    const up = dirname(dir);
    if (up === dir) throw new Error('@upscalerjs/default-model: package root not found');
    dir = up;
  }
  return dir;
}
