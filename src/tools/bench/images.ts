/**
 * `npm run bench`, TensorFlow.js models section: how fast the `psnr` and `accuracy` fitnesses can
 * run their models here — the pretrained RDN on 32 × 32 calibration patches and the clothing CNN on
 * batches of 28 × 28 pictures — on each backend (tfjs, and onnxruntime through the converted layer
 * graph) in this process, one thread, with GFLOP/s counted from the layer shapes.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as TF from '@tensorflow/tfjs';
import { initTensorflow } from '../../runtime/tfjs.js';
import { kernelUnits, loadLayersModel, readLayersModel } from '../../models/layers-model.js';
import { createLayersRunner, type LayersRunner } from '../../models/layers-runner.js';
import { upscalerPackageDir } from '../../models/upscaler.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * 2 · multiply-adds of every Conv2D and Dense layer for one input: kernel size × output positions
 * (1 for a dense layer; by default a convolution's from its output shape, when that is known).
 */
function flopsPerInput(model: TF.LayersModel, positions = (layer: TF.layers.Layer) => (layer.outputShape as number[])[1] * (layer.outputShape as number[])[2]): number {
  return model.layers
    .filter((l) => l.getClassName() === 'Conv2D' || l.getClassName() === 'Dense')
    .reduce((sum, l) => sum + 2 * l.getWeights()[0].size * (l.getClassName() === 'Conv2D' ? positions(l) : 1), 0);
}

async function measure(runner: LayersRunner, data: Float32Array, dims: number[], seconds = 2): Promise<number> {
  await runner.run({ data, dims }); // warm-up
  const rates: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    let runs = 0;
    const start = performance.now();
    while (performance.now() - start < seconds * 1000) {
      await runner.run({ data, dims });
      runs++;
    }
    rates.push((runs * dims[0]) / ((performance.now() - start) / 1000));
  }
  return median(rates);
}

export async function imageBench(): Promise<void> {
  const { tf, backend } = await initTensorflow();
  console.log(`\n## TensorFlow.js models: forward passes on tfjs (${backend}) and on onnxruntime (cpu), one thread, medians of 3 runs of 2 s`);
  const rdnFiles = readLayersModel(join(upscalerPackageDir(), 'models'));
  const cnnFiles = readLayersModel(join(ROOT, 'models', 'fashion-cnn'));
  const rdn = await loadLayersModel(tf, rdnFiles);
  const cnn = await loadLayersModel(tf, cnnFiles);
  // The RDN takes any image size, so its output shapes are symbolic: at 32 × 32, only SR runs after the ×2 upsampling.
  const rdnFlops = flopsPerInput(rdn, (l) => (l.name === 'SR' ? 64 * 64 : 32 * 32));
  const cnnFlops = flopsPerInput(cnn);
  rdn.dispose();
  cnn.dispose();
  const patches = Float32Array.from({ length: 8 * 32 * 32 * 3 }, (_, i) => (i * 7919) % 256);
  const pictures = Float32Array.from({ length: 500 * 784 }, (_, i) => ((i * 7919) % 256) / 255);
  for (const which of ['tfjs', 'onnx'] as const) {
    const rdnRunner = await createLayersRunner(rdnFiles, which, kernelUnits(rdnFiles).map((u) => u.weight));
    const patchRate = await measure(rdnRunner, patches, [8, 32, 32, 3]);
    await rdnRunner.close();
    console.log(`${which}: RDN ×2, 32 × 32 patches in batches of 8: ${patchRate.toFixed(1)} patches/s, ${((patchRate * rdnFlops) / 1e9).toFixed(1)} GFLOP/s (${(rdnFlops / 1e6).toFixed(0)} MFLOP per patch)`);
    const cnnRunner = await createLayersRunner(cnnFiles, which, kernelUnits(cnnFiles).map((u) => u.weight));
    const pictureRate = await measure(cnnRunner, pictures, [500, 28, 28, 1]);
    await cnnRunner.close();
    console.log(`${which}: clothing CNN, batches of 500: ${pictureRate.toFixed(0)} pictures/s, ${((pictureRate * cnnFlops) / 1e9).toFixed(1)} GFLOP/s (${(cnnFlops / 1e6).toFixed(2)} MFLOP per picture)`);
  }
}
