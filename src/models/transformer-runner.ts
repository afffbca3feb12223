import type { TransformerConfig } from './config.js';
import type { Weights } from './transformer.js';
import { transformerGraph, graphFeeds } from './transformer-onnx.js';
import type { Backend, ModelRunner } from './runner.js';
import { createSession, ort, type Device } from '../runtime/onnx.js';

/** A language model on a backend: token ids [T] in, logits [T × vocab] out. */
export type TransformerRunner = ModelRunner<Uint16Array>;

/** `T`: the sequence length the onnx graph is built for; tfjs takes any up to the context. */
export async function createTransformerRunner(config: TransformerConfig, T: number, dense: Weights, backend: Backend, device: Device): Promise<TransformerRunner> {
  if (backend === 'tfjs') {
    // Loaded lazily: onnx runs never pay for TensorFlow.js.
    const { tfjsTransformerRunner } = await import('./transformer-tfjs.js');
    return tfjsTransformerRunner(config, dense);
  }
  return onnxTransformerRunner(config, T, dense, device);
}

/**
 * onnxruntime with every weight a graph input: writing a layer is feeding another tensor. The
 * tensor wrappers are kept per array, so a level that comes back costs nothing to wrap again.
 */
async function onnxTransformerRunner(config: TransformerConfig, T: number, dense: Weights, device: Device): Promise<TransformerRunner> {
  const session = await createSession(transformerGraph(config, T, dense, true), device);
  const feeds = graphFeeds(config, new Uint16Array(T), dense, true);
  const wrapped = new WeakMap<Float32Array, ort.Tensor>();
  return {
    name: `onnx (${device})`,
    write(changes) {
      for (const [name, data] of changes) {
        let t = wrapped.get(data);
        if (!t) wrapped.set(data, (t = new ort.Tensor('float32', data, feeds[name].dims)));
        feeds[name] = t;
      }
    },
    async run(tokens) {
      const ids = new ort.Tensor('int64', BigInt64Array.from(tokens, (t) => BigInt(t)), [T]);
      return (await session.run({ ...feeds, ids })).logits.data as Float32Array;
    },
    close: () => session.release(),
  };
}
