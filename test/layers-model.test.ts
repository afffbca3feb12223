import { describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { upscalerPackageDir } from '../src/models/upscaler.js';
import { initTensorflow } from '../src/runtime/tfjs.js';
import { kernelUnits, loadLayersModel, readLayersModel, weightValues } from '../src/models/layers-model.js';
import { psnr, readImage, to8Bit } from '../src/data/images.js';
import { cli, tempDir } from './cli-helpers.js';

/** @upscalerjs/default-model: a pretrained RDN ×2 super-resolution net (MIT) that no one on this project wrote. */
const PACKAGE = upscalerPackageDir();
const MODEL = join(PACKAGE, 'models');

function modelCopy(): string {
  const dir = join(tempDir(), 'rdn');
  mkdirSync(dir);
  for (const f of ['model.json', 'group1-shard1of1.bin']) copyFileSync(join(MODEL, f), join(dir, f));
  return dir;
}

describe('TensorFlow.js LayersModel from a local directory', () => {
  it('runs the pretrained RDN and reproduces the package\'s own ×2 sample (≥ 60 dB)', async () => {
    const { tf } = await initTensorflow();
    const model = await loadLayersModel(tf, readLayersModel(MODEL));
    const input = readImage(join(PACKAGE, 'assets', 'fixture.png'));
    const expected = readImage(join(PACKAGE, 'assets', 'samples', '2x', 'result.png'));
    const output = tf.tidy(() => (model.predict(tf.tensor4d(input.data, [1, input.height, input.width, 3])) as ReturnType<typeof tf.tensor>).dataSync() as Float32Array);
    expect([expected.width, expected.height]).toEqual([2 * input.width, 2 * input.height]);
    // The sample is an 8-bit PNG: compare what saving the output as one gives (measured: 101 dB, one channel value in 200k off by one).
    expect(psnr(to8Bit(output), expected.data)).toBeGreaterThanOrEqual(60);
    // A different image does not pass for it: the bilinear-free nearest ×2 of the input is far below.
    const nearest = new Float32Array(expected.data.length);
    for (let y = 0; y < expected.height; y++) for (let x = 0; x < expected.width; x++) for (let c = 0; c < 3; c++) nearest[(y * expected.width + x) * 3 + c] = input.data[((y >> 1) * input.width + (x >> 1)) * 3 + c];
    expect(psnr(nearest, expected.data)).toBeLessThan(40);
    model.dispose();
  });

  it('lists the Conv2D kernels as (kh·kw·cin) × cout units', () => {
    const files = readLayersModel(MODEL);
    const units = kernelUnits(files);
    expect(units.map((u) => u.layer)).toEqual(['F_m1', 'F_0', 'F_1_1', 'LFF_1', 'F_2_1', 'LFF_2', 'GFF_1', 'GFF_2', 'UPN1', 'UPN2', 'UPN3', 'SR']);
    const f0 = units.find((u) => u.layer === 'F_0')!;
    expect([f0.inFeatures, f0.outFeatures]).toEqual([3 * 3 * 64, 64]);
    expect(weightValues(files, 'F_0/kernel')).toHaveLength(3 * 3 * 64 * 64);
    const parameters = files.weightSpecs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1), 0);
    expect(parameters).toBe(readFileSync(join(MODEL, 'group1-shard1of1.bin')).byteLength / 4);
    expect(kernelUnits(files, ['SR', 'UPN1']).map((u) => u.layer)).toEqual(['UPN1', 'SR']);
    expect(() => kernelUnits(files, ['nope'])).toThrow(/no Conv2D or Dense layer named "nope"/);
  });

  it('names the file and the field for a missing shard, a shard of the wrong size and an unsupported layer type', () => {
    const missing = modelCopy();
    const json = JSON.parse(readFileSync(join(missing, 'model.json'), 'utf8'));
    json.weightsManifest[0].paths = ['group1-shard1of2.bin'];
    writeFileSync(join(missing, 'model.json'), JSON.stringify(json));
    expect(() => readLayersModel(missing)).toThrow(/model\.json: weightsManifest\[0\]\.paths\[0\]: weight shard "group1-shard1of2\.bin" not found/);

    const short = modelCopy();
    writeFileSync(join(short, 'group1-shard1of1.bin'), readFileSync(join(MODEL, 'group1-shard1of1.bin')).subarray(0, 1000));
    expect(() => readLayersModel(short)).toThrow(/group1-shard1of1\.bin: the shards of weightsManifest\[0\] hold 1000 bytes, but its 24 weights need 888300/);

    const odd = modelCopy();
    const topology = JSON.parse(readFileSync(join(odd, 'model.json'), 'utf8'));
    topology.modelTopology.model_config.config.layers[3].class_name = 'PixelShuffle2x';
    writeFileSync(join(odd, 'model.json'), JSON.stringify(topology));
    expect(() => readLayersModel(odd)).toThrow(/model\.json: modelTopology\.model_config\.config\.layers\[3\]\.class_name: layer "F_1_1" has type PixelShuffle2x, which evosearch does not support/);
  });

  it('stops `db build` with one line and exit 1 for a broken LayersModel', () => {
    const short = modelCopy();
    writeFileSync(join(short, 'group1-shard1of1.bin'), readFileSync(join(MODEL, 'group1-shard1of1.bin')).subarray(0, 4000));
    const config = join(tempDir(), 'db.json');
    writeFileSync(config, JSON.stringify({ model: short, out: 'db', compression: { type: 'sparsity', method: 'magnitude', target: 0.5 } }));
    const r = cli(['db', 'build', config]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^evosearch: error: .*group1-shard1of1\.bin: the shards of weightsManifest\[0\] hold 4000 bytes, but its 24 weights need 888300$/)]);
  });

  it('names the file of an image that does not decode', () => {
    const bad = join(tempDir(), 'broken.png');
    writeFileSync(bad, readFileSync(join(PACKAGE, 'assets', 'fixture.png')).subarray(0, 200));
    expect(() => readImage(bad)).toThrow(/broken\.png: not a decodable PNG image/);
  });
});
