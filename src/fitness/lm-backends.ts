import type { TransformerConfig } from '../models/config.js';
import type { Weights } from '../models/transformer.js';
import { transformerGraph, graphFeeds } from '../models/transformer-onnx.js';
import { createSession, ort, type Device } from '../runtime/onnx.js';

export type Backend = 'onnx' | 'tfjs';

/**
 * One way to run the language model: logits [T × vocab] of one token sequence under a set of
 * weights. A candidate is a different Weights map (stitched per layer), never a different session.
 */
export interface LmExecutor {
  readonly name: string;
  logits(tokens: Uint16Array, weights: Weights): Promise<Float32Array>;
  close(): Promise<void>;
}

/**
 * onnxruntime with every weight a graph input: swapping a layer is passing another tensor. The
 * tensor wrappers are kept per array, so an unchanged layer costs nothing to feed again.
 */
export async function onnxExecutor(config: TransformerConfig, T: number, dense: Weights, device: Device): Promise<LmExecutor> {
  const session = await createSession(transformerGraph(config, T, dense, true), device);
  const base = graphFeeds(config, new Uint16Array(T), dense, true);
  const wrapped = new WeakMap<Float32Array, ort.Tensor>();
  const tensorOf = (name: string, data: Float32Array) => {
    let t = wrapped.get(data);
    if (!t) wrapped.set(data, (t = new ort.Tensor('float32', data, base[name].dims)));
    return t;
  };
  return {
    name: `onnx (${device})`,
    async logits(tokens, weights) {
      const feeds: Record<string, ort.Tensor> = { ...base, ids: new ort.Tensor('int64', BigInt64Array.from(tokens, (t) => BigInt(t)), [T]) };
      for (const [name, data] of weights) feeds[name] = tensorOf(name, data);
      return (await session.run(feeds)).logits.data as Float32Array;
    },
    close: () => session.release(),
  };
}
