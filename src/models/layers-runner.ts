import type * as TF from '@tensorflow/tfjs';
import { initTensorflow } from '../runtime/tfjs.js';
import { createSession, floatTensor, type ort } from '../runtime/onnx.js';
import { loadLayersModel, weightValues, writeWeights, type LayersModelFiles } from './layers-model.js';
import { layersModelGraph, onnxShape, toOnnxLayout } from './layers-onnx.js';
import type { Backend, ModelRunner } from './runner.js';

/** A batch in NHWC (or [batch, features]) order, as the LayersModel takes it. */
export interface LayersInput {
  data: Float32Array;
  dims: number[];
}

/**
 * A LayersModel on a backend: weights are written by manifest name in Keras layout, and batches
 * run NHWC in, Keras-shaped out, the same on both backends.
 */
export type LayersRunner = ModelRunner<LayersInput>;

/** `replaceable`: the weights `write` may change (the units' kernels); onnx feeds them as graph inputs. */
export async function createLayersRunner(files: LayersModelFiles, backend: Backend, replaceable: string[]): Promise<LayersRunner> {
  return backend === 'onnx' ? onnxRunner(files, replaceable) : tfjsRunner(files);
}

async function tfjsRunner(files: LayersModelFiles): Promise<LayersRunner> {
  const { tf, backend } = await initTensorflow();
  const model = await loadLayersModel(tf, files);
  return {
    name: `tfjs (${backend})`,
    write: (changes) => writeWeights(tf, model, [...changes]),
    run: async ({ data, dims }) => tf.tidy(() => (model.predict(tf.tensor(data, dims)) as TF.Tensor).dataSync() as Float32Array),
    close: async () => {
      model.dispose();
    },
  };
}

async function onnxRunner(files: LayersModelFiles, replaceable: string[]): Promise<LayersRunner> {
  const session = await createSession(layersModelGraph(files, new Set(replaceable)));
  const shapes = new Map(files.weightSpecs.map((w) => [w.name, w.shape]));
  const feeds: Record<string, ort.Tensor> = {};
  const write = (changes: Iterable<[string, Float32Array]>) => {
    for (const [name, data] of changes) {
      const shape = shapes.get(name)!;
      feeds[name] = floatTensor(toOnnxLayout(data, shape), onnxShape(shape));
    }
  };
  write(replaceable.map((name) => [name, weightValues(files, name)]));
  return {
    name: 'onnx (cpu)',
    write,
    run: async ({ data, dims }) => (await session.run({ ...feeds, input: floatTensor(data, dims) })).output.data as Float32Array,
    close: () => session.release(),
  };
}
