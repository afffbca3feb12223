import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDigits } from '../src/data/digits.js';
import { buildDatabase, loadDatabaseConfig } from '../src/compress/database.js';
import { ClassifierFitness } from '../src/fitness/classifier.js';
import { ROOT, tempDir } from './cli-helpers.js';

const MODEL = join(ROOT, 'models', 'digit-cnn');

describe('the digit classifier and its accuracy fitness', () => {
  it('splits the MNIST digits into disjoint, class-balanced train, calibration and held-out parts', () => {
    const parts = (['train', 'calibration', 'heldOut'] as const).map(loadDigits);
    expect(parts.map((p) => p.count)).toEqual([6995, 1500, 1505]);
    for (const p of parts) {
      const perClass = Array.from({ length: 10 }, (_, d) => p.labels.filter((l) => l === d).length);
      expect(Math.max(...perClass) / Math.min(...perClass)).toBeLessThan(1.4);
      expect(Array.from(p.labels.slice(0, 10))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]); // classes dealt out in turn
    }
    const key = (d: (typeof parts)[0], i: number) => d.images.subarray(i * 784, (i + 1) * 784).join(',');
    const train = new Set(Array.from({ length: 500 }, (_, i) => key(parts[0], i)));
    expect(Array.from({ length: 500 }, (_, i) => key(parts[2], i)).filter((k) => train.has(k)).length).toBeLessThan(5); // MNIST has a few exact duplicates
  });

  it('reproduces the held-out accuracy its training measured, and scores a broken configuration far below it', { timeout: 60_000 }, async () => {
    const training = JSON.parse(readFileSync(join(MODEL, 'training.json'), 'utf8'));
    const dir = tempDir();
    writeFileSync(join(dir, 'db.json'), JSON.stringify({ model: MODEL, out: 'db', compression: { type: 'quantization', method: 'rtn', target: 8, bits: [1, 8] } }));
    const config = loadDatabaseConfig(join(dir, 'db.json'));
    const { manifest } = await buildDatabase(config);
    const fitness = await ClassifierFitness.load({ type: 'accuracy', database: config.outDir, model: MODEL, windows: 500, slices: 3, levelCacheMiB: 64, backend: 'tfjs', minimize: false });
    const [dense, eightBit, oneBit] = await fitness.measureHeldOut([null, manifest.uniform, manifest.units.map(() => 0)]);
    expect(dense.accuracy).toBeCloseTo(training.heldOutAccuracy, 6);
    expect(dense.agreement).toBe(1);
    expect(Math.abs(eightBit.accuracy - dense.accuracy)).toBeLessThan(0.005); // 8 bits: all but lossless
    expect(eightBit.agreement).toBeGreaterThan(0.99);
    expect(oneBit.accuracy).toBeLessThan(eightBit.accuracy - 0.2); // 1 bit: broken
    // Accuracy on calibration digits: a fraction of the slice, and deterministic.
    const a = await fitness.evaluate(manifest.uniform, { budget: 1, slice: 1 });
    expect(a * 500).toBeCloseTo(Math.round(a * 500), 9);
    expect(await fitness.evaluate(manifest.uniform, { budget: 1, slice: 1 })).toBe(a);
    await fitness.close();
  });
});
