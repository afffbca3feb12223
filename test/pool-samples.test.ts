import { describe, expect, it, beforeAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildDatabase } from '../src/compress/build.js';
import { loadDatabaseConfig } from '../src/compress/config.js';
import { spaceFromManifest, type Manifest } from '../src/compress/manifest.js';
import type { LmFitnessSpec } from '../src/fitness/lm.js';
import type { Fidelity, Genome } from '../src/space/space.js';
import { Rng } from '../src/rng/rng.js';
import { ROOT, tempDir } from './cli-helpers.js';

// Worker threads start from the compiled pool (`npm run pretest` builds it), as in a run.
const { WorkerPool } = (await import(pathToFileURL(join(ROOT, 'dist', 'pool', 'pool.js')).href)) as typeof import('../src/pool/pool.js');

const MODEL = join(ROOT, 'models', 'reference-lm');

/**
 * With several workers a language model's windows are scored one by one, and the coordinator keeps
 * every window's value: a window scored by one worker is never scored again by the other.
 */
describe('the pool with a fitness made of windows', () => {
  let manifest: Manifest;
  let spec: LmFitnessSpec;

  beforeAll(async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'db.json'), JSON.stringify({ model: MODEL, out: 'db', compression: { type: 'sparsity', method: 'magnitude', target: 0.6, stepsEachSide: 2 } }));
    const config = loadDatabaseConfig(join(dir, 'db.json'));
    manifest = (await buildDatabase(config)).manifest;
    // 2 windows per unit of budget, 4 slices: slice s reads windows 2s, 2s + 1, and further ones at larger budgets.
    spec = { type: 'kl', database: config.outDir, model: MODEL, windows: 2, slices: 4, validationSlices: 0, length: 128, topK: 16, cacheMiB: 256, prefixCacheMiB: 256, levelCacheMiB: 1024, backend: 'onnx', device: 'cpu', minimize: true, timeout: 3600 };
  });

  /** Scores a racing-like sequence of requests; returns their values and the windows the workers scored one by one. */
  async function race(threads: number): Promise<{ values: number[][]; samplesScored: number }> {
    const rng = Rng.fromSeed('pool-samples');
    const genomes: Genome[] = Array.from({ length: 9 }, () => manifest.units.map((u) => rng.int(0, u.levels.length - 1)));
    const requests: [Genome[], Fidelity][] = [
      // 8 offspring on slice 0's 2 windows: fewer windows than 2 per worker, so pieces of equal size.
      [genomes.slice(0, 8), { budget: 1, slice: 0 }],
      // 3 survivors and a parent on 4 windows of slice 0 (a piece per window): 2 windows of each survivor
      // are known. The parent comes twice (as a replicate may), and is scored once.
      [[genomes[1], genomes[4], genomes[6], genomes[8], genomes[8]], { budget: 2, slice: 0 }],
      // The same on slice 1, whose 2 windows the last request read: nothing left to score.
      [[genomes[1], genomes[4], genomes[6], genomes[8]], { budget: 1, slice: 1 }],
    ];
    const pool = new WorkerPool({ fitness: spec, space: spaceFromManifest(manifest), seed: 1 }, threads);
    try {
      const values: number[][] = [];
      for (const [candidates, fidelity] of requests) {
        const reported = new Array<number>(candidates.length);
        const returned = await pool.evaluate(candidates, fidelity, (offset, chunk) => chunk.forEach((v, i) => (reported[offset + i] = v)));
        expect(reported).toEqual(returned); // every candidate reaches onChunk, with the value returned
        values.push(returned);
      }
      return { values, samplesScored: pool.samplesScored };
    } finally {
      await pool.close();
    }
  }

  it('gives the same values as one worker, and scores each (configuration, window) pair once [slow]', { timeout: 240_000 }, async () => {
    const one = await race(1);
    const two = await race(2);
    expect(two.values).toEqual(one.values);
    expect(two.values[1][4]).toBe(two.values[1][3]);
    expect(one.values.flat().every((v) => Number.isFinite(v) && v > 0)).toBe(true);
    // 8 × 2 windows, then 3 survivors × 2 new windows and the parent × 4; the last request is all known.
    expect(two.samplesScored).toBe(16 + 6 + 4);
    expect(one.samplesScored).toBe(0); // one worker scores whole evaluations, with its own window cache
  });
});
