import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { kernelUnits, readLayersModel, saveLayersModel } from '../src/models/layers-model.js';
import { initTensorflow } from '../src/runtime/tfjs.js';
import { layersModelGraph } from '../src/models/layers-onnx.js';
import { createLayersRunner } from '../src/models/layers-runner.js';
import { upscalerPackageDir } from '../src/models/upscaler.js';
import { CALIBRATION_PHOTOS, patches, photo } from '../src/data/photos.js';
import { loadPictures } from '../src/data/fashion.js';
import { writeFileSync } from 'node:fs';
import { buildDatabase } from '../src/compress/build.js';
import { loadDatabaseConfig } from '../src/compress/config.js';
import { ClassifierFitness } from '../src/fitness/classifier.js';
import { ImageFitness } from '../src/fitness/image.js';
import { Rng } from '../src/rng/rng.js';
import { ROOT, tempDir } from './cli-helpers.js';

/** The same model on TensorFlow.js and on onnxruntime (kernels fed as inputs), on the same batch. */
async function bothBackends(dir: string, input: Float32Array, dims: number[]) {
  const files = readLayersModel(dir);
  const kernels = kernelUnits(files).map((u) => u.weight);
  const [reference, onnx] = await Promise.all(
    (['tfjs', 'onnx'] as const).map(async (backend) => {
      const runner = await createLayersRunner(files, backend, kernels);
      const out = await runner.run({ data: input, dims });
      await runner.close();
      return out;
    }),
  );
  return { onnx, reference };
}

const maxDifference = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('LayersModels on onnxruntime', () => {
  it('runs the pretrained RDN as TensorFlow.js does', async () => {
    const [patch] = patches(CALIBRATION_PHOTOS.map(photo), 1, 24);
    const { onnx, reference } = await bothBackends(join(upscalerPackageDir(), 'models'), patch, [1, 24, 24, 3]);
    expect(onnx.length).toBe(48 * 48 * 3); // ×2, NHWC out
    expect(maxDifference(onnx, reference)).toBeLessThan(1e-2); // outputs span 0..255
  });

  it('runs the clothing CNN as TensorFlow.js does', async () => {
    const pictures = loadPictures('calibration');
    const { onnx, reference } = await bothBackends(join(ROOT, 'models', 'fashion-cnn'), pictures.images.subarray(0, 16 * 784), [16, 28, 28, 1]);
    expect(onnx.length).toBe(16 * 10);
    expect(maxDifference(onnx, reference)).toBeLessThan(1e-4);
  });

  it('gives the fitnesses the same scores on both backends, configuration after configuration', async () => {
    const rng = Rng.fromSeed('backends');
    const build = async (model: string, units: string[]) => {
      const dir = tempDir();
      writeFileSync(join(dir, 'db.json'), JSON.stringify({ model, out: 'db', units, compression: { type: 'sparsity', method: 'magnitude', target: 0.6, stepsEachSide: 4 } }));
      const config = loadDatabaseConfig(join(dir, 'db.json'));
      return { dir: config.outDir, manifest: (await buildDatabase(config)).manifest };
    };
    const randomGenomes = (manifest: { units: { levels: unknown[] }[] }) => Array.from({ length: 4 }, () => manifest.units.map((u) => rng.int(0, u.levels.length - 1)));

    const cnn = join(ROOT, 'models', 'fashion-cnn');
    const cnnDb = await build(cnn, ['conv3', 'conv4', 'conv5', 'conv6']);
    const classifiers = await Promise.all((['tfjs', 'onnx'] as const).map((backend) => ClassifierFitness.load({ type: 'accuracy', database: cnnDb.dir, model: cnn, pictures: 300, slices: 4, validationSlices: 0, levelCacheMiB: 64, backend, minimize: false, timeout: 3600 })));
    for (const genome of randomGenomes(cnnDb.manifest)) {
      const [a, b] = [await classifiers[0].evaluate(genome, { budget: 1, slice: 2 }), await classifiers[1].evaluate(genome, { budget: 1, slice: 2 })];
      expect(b).toBe(a);
    }
    await Promise.all(classifiers.map((f) => f.close()));

    const rdn = join(upscalerPackageDir(), 'models');
    const rdnDb = await build(rdn, ['GFF_2', 'UPN1', 'UPN2']);
    const images = await Promise.all((['tfjs', 'onnx'] as const).map((backend) => ImageFitness.load({ type: 'psnr', database: rdnDb.dir, model: rdn, patches: 2, slices: 2, validationSlices: 0, patchSize: 24, cacheMiB: 16, levelCacheMiB: 64, backend, minimize: false, timeout: 3600 })));
    for (const genome of randomGenomes(rdnDb.manifest)) {
      const [a, b] = [await images[0].evaluate(genome, { budget: 1, slice: 1 }), await images[1].evaluate(genome, { budget: 1, slice: 1 })];
      expect(Math.abs(a - b)).toBeLessThan(0.01); // dB, at 40–60 dB of fidelity
    }
    await Promise.all(images.map((f) => f.close()));
  });

  it('runs BatchNormalization (on images and on features) and Reshape (to an image and to features) as TensorFlow.js does', async () => {
    const { tf } = await initTensorflow();
    const rng = Rng.fromSeed('bn-reshape');
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 2], filters: 4, kernelSize: 3, padding: 'same', name: 'conv' }),
        tf.layers.batchNormalization({ name: 'bn_image', epsilon: 0.01 }),
        tf.layers.reshape({ targetShape: [16, 4, 4], name: 'to_image' }),
        tf.layers.conv2d({ filters: 3, kernelSize: 3, name: 'conv_after' }),
        tf.layers.reshape({ targetShape: [14 * 2 * 3], name: 'to_features' }),
        tf.layers.dense({ units: 6, name: 'dense' }),
        tf.layers.batchNormalization({ name: 'bn_features', center: false }),
      ],
    });
    // Random weights, and moving statistics far from 0 and 1, so that every term of the normalisation shows.
    model.setWeights(
      model.weights.map((w) => {
        const shape = w.shape as number[];
        const values = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (w.name.includes('variance') ? 0.5 + rng.next() : rng.normal()));
        return tf.tensor(values, shape);
      }),
    );
    const dir = tempDir();
    await saveLayersModel(tf, model, dir);
    model.dispose();
    const input = Float32Array.from({ length: 3 * 8 * 8 * 2 }, () => rng.normal());
    const { onnx, reference } = await bothBackends(dir, input, [3, 8, 8, 2]);
    expect(onnx.length).toBe(3 * 6);
    const scale = reference.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(scale).toBeGreaterThan(1);
    expect(maxDifference(onnx, reference) / scale).toBeLessThan(1e-5);
  });

  it('names the layer it cannot convert, and the way out', () => {
    const files = readLayersModel(join(ROOT, 'models', 'fashion-cnn'));
    const topology = structuredClone(files.modelTopology) as { config: { layers: { class_name: string }[] } };
    topology.config.layers[8].class_name = 'SeparableConv2D';
    expect(() => layersModelGraph({ ...files, modelTopology: topology }, new Set())).toThrow(/fashion-cnn\/model\.json: layer "gap" \(SeparableConv2D\): a layer type, which the onnx backend does not convert; use --backend tfjs/);
  });
});
