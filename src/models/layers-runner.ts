import type * as TF from '@tensorflow/tfjs';
import { initTensorflow } from '../runtime/tfjs.js';
import { createSession, floatTensor, type ort } from '../runtime/onnx.js';
import { loadLayersModel, weightValues, writeWeights, type LayersModelFiles } from './layers-model.js';
import { layersModelGraph, onnxShape, toOnnxLayout } from './layers-onnx.js';

export type LayersBackend = 'tfjs' | 'onnx';

/**
 * One LayersModel held by a worker on one backend: weights are replaced in place (by manifest
 * name, Keras layout) and batches run NHWC in, Keras-shaped out, the same on both backends.
 */
export interface LayersRunner {
  readonly backend: LayersBackend;
  write(changes: [string, Float32Array][]): void;
  run(input: Float32Array, dims: number[]): Promise<Float32Array>;
  close(): Promise<void>;
}

/** `replaceable`: the weights `write` may change (the units' kernels); onnx feeds them as graph inputs. */
export async function createLayersRunner(files: LayersModelFiles, backend: LayersBackend, replaceable: string[]): Promise<LayersRunner> {
  return backend === 'onnx' ? onnxRunner(files, replaceable) : tfjsRunner(files);
}

async function tfjsRunner(files: LayersModelFiles): Promise<LayersRunner> {
  const { tf } = await initTensorflow();
  const model = await loadLayersModel(tf, files);
  return {
    backend: 'tfjs',
    write: (changes) => writeWeights(tf, model, changes),
    run: async (input, dims) => tf.tidy(() => (model.predict(tf.tensor(input, dims)) as TF.Tensor).dataSync() as Float32Array),
    close: async () => {
      model.dispose();
    },
  };
}

async function onnxRunner(files: LayersModelFiles, replaceable: string[]): Promise<LayersRunner> {
  const session = await createSession(layersModelGraph(files, new Set(replaceable)));
  const shapes = new Map(files.weightSpecs.map((w) => [w.name, w.shape]));
  const feeds: Record<string, ort.Tensor> = {};
  const write = (changes: [string, Float32Array][]) => {
    for (const [name, data] of changes) {
      const shape = shapes.get(name)!;
      feeds[name] = floatTensor(toOnnxLayout(data, shape), onnxShape(shape));
    }
  };
  write(replaceable.map((name) => [name, weightValues(files, name)]));
  return {
    backend: 'onnx',
    write,
    run: async (input, dims) => (await session.run({ ...feeds, input: floatTensor(input, dims) })).output.data as Float32Array,
    close: () => session.release(),
  };
}
