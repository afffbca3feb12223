/**
 * The trainable GPT-2 of the reference language model and of its students, in TensorFlow.js:
 * parameters under Hugging Face GPT-2 names and layouts, the batched forward pass, the
 * next-character and distillation losses, and an Adam optimiser whose state is plain tensors that
 * a checkpoint can save and restore (tf.train.adam hides its moments).
 */
import type * as tfType from '@tensorflow/tfjs';
import { trainingMatmul as matmul } from '../runtime/tfjs.js';
import { blockHeads, weightShapes, type TransformerConfig } from './config.js';
import { causalMask } from './transformer.js';

type TF = typeof tfType;
type Tensor = tfType.Tensor;
type Variable = tfType.Variable;

/** Parameters initialised as GPT-2 does: N(0, 0.02), residual projections scaled by 1/√(2·layers). `normal` draws N(0, 1). */
export function initParams(tf: TF, config: TransformerConfig, normal: () => number): Map<string, Variable> {
  const params = new Map<string, Variable>();
  for (const [name, shape] of weightShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const isGain = /ln_\d\.weight$|ln_f\.weight$/.test(name);
    const isBias = name.endsWith('.bias');
    const std = name.endsWith('c_proj.weight') ? 0.02 / Math.sqrt(2 * config.nLayers) : 0.02;
    const values = Float32Array.from({ length: n }, () => (isGain ? 1 : isBias ? 0 : std * normal()));
    params.set(name, tf.variable(tf.tensor(values, shape), true, name));
  }
  return params;
}

/** Swaps the last two axes. */
const transposeLast = (tf: TF, x: Tensor) => tf.transpose(x, x.rank === 2 ? [1, 0] : [0, 2, 1]);

export interface TrainableGpt2 {
  /** Logits [batch·T, vocab] of `batch` windows of T ≤ context ids each, row-major. */
  logits(ids: Int32Array, batch: number): Tensor;
  /** Mean next-character cross-entropy (nats) of the windows of T + 1 ids starting at `starts`. */
  loss(source: Uint16Array, starts: number[]): Tensor;
  /**
   * Mean KL(teacher ‖ model) per token (nats) on the windows of T ids starting at `starts`, given the
   * teacher's probabilities [batch·T, vocab]: soft-label cross-entropy minus the teacher's entropy.
   */
  distillLoss(source: Uint16Array, starts: number[], teacher: Tensor): Tensor;
}

/** The ids of `starts.length` windows of T tokens from `source`, and the T next tokens of each. */
export function batchIds(source: Uint16Array, starts: number[], T: number): { ids: Int32Array; labels: Int32Array } {
  const ids = new Int32Array(starts.length * T);
  const labels = new Int32Array(starts.length * T);
  starts.forEach((s, b) => {
    for (let t = 0; t < T; t++) {
      ids[b * T + t] = source[s + t];
      labels[b * T + t] = source[s + t + 1];
    }
  });
  return { ids, labels };
}

/**
 * GPT-2 in TensorFlow.js, the one definition that trains the reference model and its students and
 * that the `tfjs` evaluation backend runs (transformer-tfjs.ts). `params` is read at every call, so
 * a caller may swap a weight's tensor between calls (stitching a candidate).
 */
export function trainableGpt2(tf: TF, config: TransformerConfig, params: Map<string, Tensor>): TrainableGpt2 {
  const { contextLength: T, dModel: D, nLayers: LAYERS, vocabSize: V, normEps } = config;
  const p = (name: string) => params.get(name)!;
  const masks = new Map<number, Float32Array>();
  const maskOf = (n: number) => masks.get(n) ?? masks.set(n, causalMask(n)).get(n)!;

  const layerNorm = (x: Tensor, prefix: string) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return x.sub(mean).div(variance.add(normEps).sqrt()).mul(p(`${prefix}.weight`)).add(p(`${prefix}.bias`));
  };

  /** The same GPT-2 block as src/models/transformer.ts, batched; the embedding is a one-hot matmul (wasm lacks gather's gradient). */
  const logits = (ids: Int32Array, batch: number) => {
    const n = ids.length / batch;
    if (!Number.isInteger(n) || n < 1 || n > T) throw new Error(`GPT-2: ${ids.length} ids are not ${batch} windows of 1 to ${T} tokens`);
    // Made per call, inside the caller's tidy or gradient scope: a model holds no tensor of its own to leak.
    const mask = tf.tensor2d(maskOf(n), [n, n]);
    const oneHot = tf.oneHot(tf.tensor1d(ids, 'int32'), V).toFloat();
    const positions = n === T ? p('wpe.weight') : p('wpe.weight').slice([0, 0], [n, D]);
    let x = matmul(oneHot, p('wte.weight')).reshape([batch, n, D]).add(positions).reshape([batch * n, D]);
    for (let i = 0; i < LAYERS; i++) {
      const h = layerNorm(x, `h.${i}.ln_1`);
      const qkv = matmul(h, p(`h.${i}.attn.c_attn.weight`)).add(p(`h.${i}.attn.c_attn.bias`));
      const heads = blockHeads(config, i);
      const hd = D / heads;
      // One product per head, 2-D for a single window: on wasm, matMul batched over heads is ~2.5× slower.
      const [q, k, v] = tf.split(qkv, 3, 1);
      const shape = batch === 1 ? [n, hd] : [batch, n, hd];
      const head = (x: Tensor, h: number) => x.slice([0, h * hd], [batch * n, hd]).reshape(shape);
      const attended = tf
        .concat(Array.from({ length: heads }, (_, h) => matmul(tf.softmax(matmul(head(q, h), transposeLast(tf, head(k, h))).mul(1 / Math.sqrt(hd)).add(mask)), head(v, h)).reshape([batch * n, hd])), 1);
      x = x.add(matmul(attended, p(`h.${i}.attn.c_proj.weight`)).add(p(`h.${i}.attn.c_proj.bias`)));
      const f = matmul(layerNorm(x, `h.${i}.ln_2`), p(`h.${i}.mlp.c_fc.weight`)).add(p(`h.${i}.mlp.c_fc.bias`));
      // gelu (tanh) = 0.5·x·(1 + tanh(z)) = x·sigmoid(2z), z = √(2/π)·(x + 0.044715·x³): the same
      // function, and wasm's sigmoid is vectorised where its tanh is not (~17× faster at 128×640).
      const gelu = f.mul(tf.sigmoid(f.add(f.mul(f).mul(f).mul(0.044715)).mul(2 * Math.sqrt(2 / Math.PI))));
      x = x.add(matmul(gelu, p(`h.${i}.mlp.c_proj.weight`)).add(p(`h.${i}.mlp.c_proj.bias`)));
    }
    return matmul(layerNorm(x, 'ln_f'), transposeLast(tf, p('wte.weight')));
  };

  return {
    logits,
    loss(source, starts) {
      const { ids, labels } = batchIds(source, starts, T);
      return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(labels, 'int32'), V), logits(ids, starts.length));
    },
    distillLoss(source, starts, teacher) {
      const { ids } = batchIds(source, starts, T);
      const logq = tf.logSoftmax(logits(ids, starts.length));
      const entropy = tf.sum(tf.mul(teacher, tf.log(tf.maximum(teacher, 1e-30)))); // Σ p log p, a constant
      return tf.sub(entropy, tf.sum(tf.mul(teacher, logq))).div(starts.length * T);
    },
  };
}
