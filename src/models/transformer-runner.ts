import type { TransformerConfig } from './config.js';
import type { Weights } from './transformer.js';
import { residualPoints } from './config.js';
import { transformerGraph, graphFeeds, residualOutput } from './transformer-onnx.js';
import type { Backend, ModelRunner } from './runner.js';
import { createSession, ort, type Device } from '../runtime/onnx.js';

/** A language model on a backend: token ids [T] in, logits [T × vocab] out. */
export interface TransformerRunner extends ModelRunner<Uint16Array> {
  /**
   * Logits of `tokens` and the residual stream at each point after `from` (see residualPoints)
   * up to the last block's attention, running only the sub-blocks after `from`: `residual` is the
   * stream at `from` (null when `from` is 0: the tokens). The logits are bit for bit those of
   * `run`. Absent where the backend cannot start mid-model (tfjs).
   */
  resume?(tokens: Uint16Array, from: number, residual: Float32Array | null): Promise<{ logits: Float32Array; residuals: Map<number, Float32Array> }>;
}

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
 * Resuming mid-model uses one more session per starting point, made when first needed; each is
 * fed only the inputs its graph has.
 */
async function onnxTransformerRunner(config: TransformerConfig, T: number, dense: Weights, device: Device): Promise<TransformerRunner> {
  const session = await createSession(transformerGraph(config, T, dense, true), device);
  const feeds = graphFeeds(config, new Uint16Array(T), dense, true);
  const wrapped = new WeakMap<Float32Array, ort.Tensor>();
  const resumers = new Map<number, Promise<ort.InferenceSession>>();
  const resumer = (from: number) => {
    let s = resumers.get(from);
    if (!s) resumers.set(from, (s = createSession(transformerGraph(config, T, dense, true, { from, residuals: true }), device)));
    return s;
  };
  const ids = (tokens: Uint16Array) => new ort.Tensor('int64', BigInt64Array.from(tokens, (t) => BigInt(t)), [T]);
  const last = residualPoints(config) - 1;
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
      return (await session.run({ ...feeds, ids: ids(tokens) })).logits.data as Float32Array;
    },
    async resume(tokens, from, residual) {
      const s = await resumer(from);
      const all: Record<string, ort.Tensor> = { ...feeds, ids: ids(tokens) };
      if (residual) all.residual = new ort.Tensor('float32', residual, [T, config.dModel]);
      const out = await s.run(Object.fromEntries(s.inputNames.map((name) => [name, all[name]])));
      const residuals = new Map<number, Float32Array>();
      for (let p = from + 1; p < last; p++) residuals.set(p, out[residualOutput(p)].data as Float32Array);
      return { logits: out.logits.data as Float32Array, residuals };
    },
    async close() {
      await session.release();
      for (const s of resumers.values()) await (await s).release();
    },
  };
}
