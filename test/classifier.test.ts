import { describe, expect, it } from 'vitest';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fashionDir, loadPictures } from '../src/data/fashion.js';
import { buildDatabase } from '../src/compress/build.js';
import { loadDatabaseConfig } from '../src/compress/config.js';
import { ClassifierFitness } from '../src/fitness/classifier.js';
import { ROOT, tempDir } from './cli-helpers.js';

const MODEL = join(ROOT, 'models', 'fashion-cnn');

/** Runs `f` with EVOSEARCH_FASHION_MNIST pointing at `dir`. */
function withDataDir<T>(dir: string, f: () => T): T {
  const before = process.env.EVOSEARCH_FASHION_MNIST;
  process.env.EVOSEARCH_FASHION_MNIST = dir;
  try {
    return f();
  } finally {
    if (before === undefined) delete process.env.EVOSEARCH_FASHION_MNIST;
    else process.env.EVOSEARCH_FASHION_MNIST = before;
  }
}

describe('the clothing classifier and its accuracy fitness', () => {
  it('splits Fashion-MNIST into training, a calibration split held back from training, and the official test set', () => {
    const [train, calibration, heldOut] = (['train', 'calibration', 'heldOut'] as const).map(loadPictures);
    expect([train.count, calibration.count, heldOut.count]).toEqual([55_000, 5_000, 10_000]);
    for (const p of [train, calibration, heldOut]) {
      expect(p.images.length).toBe(p.count * 784);
      const perClass = Array.from({ length: 10 }, (_, c) => p.labels.filter((l) => l === c).length);
      expect(Math.min(...perClass)).toBeGreaterThan(p.count / 10 - p.count / 40);
      expect(Math.max(...p.images.subarray(0, 784 * 100))).toBeLessThanOrEqual(1);
    }
    expect(heldOut.labels.filter((l) => l === 9).length).toBe(1000); // the test set has exactly 1,000 of each class
    const key = (d: typeof train, i: number) => d.images.subarray(i * 784, (i + 1) * 784).join(',');
    const trained = new Set(Array.from({ length: 2000 }, (_, i) => key(train, train.count - 1 - i)));
    expect(Array.from({ length: 2000 }, (_, i) => key(calibration, i)).filter((k) => trained.has(k)).length).toBe(0);
  });

  it('names the file and the Debian package when the data are missing or broken', () => {
    const dir = tempDir();
    expect(() => withDataDir(dir, () => loadPictures('heldOut'))).toThrow(/t10k-images-idx3-ubyte\.gz: not found: .*apt-get install dataset-fashion-mnist/);
    writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), 'not gzip');
    expect(() => withDataDir(dir, () => loadPictures('heldOut'))).toThrow(/t10k-images-idx3-ubyte\.gz: not a gzip file/);
    // Labels where pictures belong: the header says one dimension, not three.
    copyFileSync(join(fashionDir(), 't10k-labels-idx1-ubyte.gz'), join(dir, 't10k-images-idx3-ubyte.gz'));
    expect(() => withDataDir(dir, () => loadPictures('heldOut'))).toThrow(/not an IDX file of unsigned bytes with 3 dimension/);
    // A truncated payload.
    const header = Buffer.alloc(16);
    header.writeUInt32BE(0x803, 0);
    [10, 28, 28].forEach((n, i) => header.writeUInt32BE(n, 4 + 4 * i));
    writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(Buffer.concat([header, Buffer.alloc(784 * 9)])));
    expect(() => withDataDir(dir, () => loadPictures('heldOut'))).toThrow(/7056 bytes of data, its header says 7840/);
  });

  it('reproduces the held-out accuracy its training measured, and scores a broken configuration far below it [slow]', { timeout: 180_000 }, async () => {
    const training = JSON.parse(readFileSync(join(MODEL, 'training.json'), 'utf8'));
    const dir = tempDir();
    writeFileSync(join(dir, 'db.json'), JSON.stringify({ model: MODEL, out: 'db', compression: { type: 'quantization', method: 'rtn', target: 8, bits: [1, 8] } }));
    const config = loadDatabaseConfig(join(dir, 'db.json'));
    const { manifest } = await buildDatabase(config);
    const fitness = await ClassifierFitness.load({ type: 'accuracy', database: config.outDir, model: MODEL, pictures: 500, slices: 10, validationSlices: 0, levelCacheMiB: 64, backend: 'tfjs', minimize: false, timeout: 3600 });
    const [dense, eightBit, oneBit] = await fitness.measureHeldOut([null, manifest.uniform, manifest.units.map(() => 0)]);
    expect(dense.accuracy).toBeCloseTo(training.heldOutAccuracy, 6);
    expect(dense.agreement).toBe(1);
    expect(Math.abs(eightBit.accuracy - dense.accuracy)).toBeLessThan(0.005); // 8 bits: all but lossless
    expect(eightBit.agreement).toBeGreaterThan(0.99);
    expect(oneBit.accuracy).toBeLessThan(eightBit.accuracy - 0.2); // 1 bit: broken
    // Accuracy on calibration pictures: a fraction of the slice, and deterministic.
    const a = await fitness.evaluate(manifest.uniform, { budget: 1, slice: 1 });
    expect(a * 500).toBeCloseTo(Math.round(a * 500), 9);
    expect(await fitness.evaluate(manifest.uniform, { budget: 1, slice: 1 })).toBe(a);
    await fitness.close();
  });
});
