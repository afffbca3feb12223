import type { Transformer } from '../models/transformer.js';
import { linearLayers } from '../models/config.js';
import { transformerGraph, graphFeeds, gramOutput } from '../models/transformer-onnx.js';
import { createSession } from '../runtime/onnx.js';
import { meanNll } from '../data/windows.js';
import { matrix, type Matrix } from './linalg.js';

/**
 * H = Σ XᵀX over the calibration windows for the input X of every linear layer of the dense
 * model, keyed by weight name. onnxruntime computes each window's Gram matrix; the sum is float64.
 * The weights are the session's inputs, not its initializers: onnxruntime would copy initializers
 * (GPT-2 small: 3.7 GB peak with them, 3.1 GB without, at the same speed). One thread: a Gram's
 * bits depend on how onnxruntime splits a product, and a database's bytes must not depend on the
 * machine's core count.
 */
export async function collectGrams(model: Transformer, windows: Uint16Array[], onWindow?: (done: number) => void): Promise<Map<string, Matrix>> {
  const T = windows[0].length - 1;
  const session = await createSession(transformerGraph(model.config, T, model.weights, true, { grams: true, logits: false }));
  const grams = new Map<string, Matrix>(linearLayers(model.config).map((l) => [l.weight, matrix(l.inFeatures, l.inFeatures)]));
  try {
    for (let i = 0; i < windows.length; i++) {
      const outputs = await session.run(graphFeeds(model.config, windows[i].subarray(0, T), model.weights, true));
      for (const [weight, sum] of grams) {
        const window = outputs[gramOutput(weight)].data as Float32Array;
        for (let k = 0; k < window.length; k++) sum.data[k] += window[k];
      }
      onWindow?.(i + 1);
    }
  } finally {
    await session.release();
  }
  return grams;
}

/**
 * The dense model's perplexity on calibration windows (each `length` + 1 tokens: inputs and their
 * next tokens): stored in a database's manifest, so that a model that does not say what its
 * files hold (a wrong config, mis-scaled weights) shows at once.
 */
export async function densePerplexity(model: Transformer, windows: Uint16Array[]): Promise<number> {
  const T = windows[0].length - 1;
  const session = await createSession(transformerGraph(model.config, T, model.weights, true));
  let nll = 0;
  try {
    for (const window of windows) {
      const logits = (await session.run(graphFeeds(model.config, window.subarray(0, T), model.weights, true))).logits.data as Float32Array;
      nll += meanNll(logits, window.subarray(1), model.config.vocabSize);
    }
  } finally {
    await session.release();
  }
  return Math.exp(nll / windows.length);
}
