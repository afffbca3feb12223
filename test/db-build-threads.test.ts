import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, cli, tempDir } from './cli-helpers.js';

/**
 * SparseGPT and GPTQ databases are built on worker threads, one layer per thread (`--threads`,
 * default one per core). Every layer is computed the same way on any thread, so the database's
 * bytes must not depend on how many there are.
 */
function build(compression: object, threads: number): { dir: string; units: { file: string | null; sha256: string | null }[] } {
  const dir = tempDir();
  const file = join(dir, 'db.json');
  writeFileSync(file, JSON.stringify({ model: join(ROOT, 'models', 'reference-lm'), out: 'db', compression, calibration: { windows: 8 } }));
  const r = cli(['db', 'build', file, '--threads', String(threads), '--json']);
  expect(r.code, r.stderr).toBe(0);
  const manifest = JSON.parse(readFileSync(join(dir, 'db', 'manifest.json'), 'utf8'));
  return { dir: join(dir, 'db'), units: manifest.units };
}

describe('db build --threads', () => {
  for (const compression of [
    { type: 'sparsity', method: 'sparsegpt', target: 0.6, stepsEachSide: 2 },
    { type: 'quantization', method: 'gptq', target: 3, bits: [2, 3, 4] },
  ]) {
    it(`builds the same ${compression.method} database byte for byte on 1 and on 3 threads`, { timeout: 300_000 }, () => {
      const one = build(compression, 1);
      const three = build(compression, 3);
      expect(one.units).toHaveLength(16);
      expect(three.units).toEqual(one.units);
      for (const unit of one.units) {
        expect(unit.file).not.toBeNull();
        expect(readFileSync(join(three.dir, unit.file!)).equals(readFileSync(join(one.dir, unit.file!)))).toBe(true);
      }
    });
  }

  it('refuses a thread count that is not a positive integer, in one line', () => {
    const r = cli(['db', 'build', join(ROOT, 'experiments', 'databases', 'sparsegpt-60.json'), '--threads', '0']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--threads/);
  });
});
