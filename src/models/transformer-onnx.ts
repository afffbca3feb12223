import type { TransformerConfig } from './config.js';
import { blockHeads, residualPoints, weightShapes } from './config.js';
import { causalMask, type Weights } from './transformer.js';
import { GraphBuilder } from '../runtime/onnx-graph.js';
import { ort } from '../runtime/onnx.js';

/**
 * The forward pass of transformer.ts as an ONNX graph for one sequence of `T` tokens, for
 * onnxruntime. Inputs: `ids` and `positions` (int64 [T]), `mask` (float [T, T]: 0 where a token
 * may attend, a large negative number where it may not) and, when `weightsAsInputs`, every
 * weight under its Hugging Face name, so that a candidate swaps tensors rather than sessions
 * ({@link graphFeeds} builds them). Output: `logits` [T, vocab].
 */
export function transformerGraph(c: TransformerConfig, T: number, weights: Weights, weightsAsInputs: boolean, options: GraphOptions = {}): Uint8Array {
  return c.family === 'gpt2' ? gpt2Graph(c, T, weights, weightsAsInputs, options) : llamaGraph(c, T, weights, weightsAsInputs, options);
}

export interface GraphOptions {
  /**
   * Also output `gram:<weight>` = XᵀX [in × in] for the input X [T × in] of every linear layer
   * ({@link linearLayers}): the calibration statistics that Wanda, SparseGPT and GPTQ need,
   * computed by onnxruntime at full speed instead of in JS.
   */
  grams?: boolean;
  /** false: no `logits` output (and no LM head): calibration reads only the Grams. */
  logits?: boolean;
  /**
   * Start at residual point `from` (see residualPoints) instead of the tokens: the graph takes
   * `residual` [T, d], the stream at that point, and runs only the sub-blocks after it (their
   * weights are its only weight inputs; `ids` and `positions` are not inputs). 0: from the tokens.
   */
  from?: number;
  /** Also output `residual:p` [T, d], the stream at every point p after `from` up to the last block's attention. */
  residuals?: boolean;
}

/** The output name of the residual stream at point `p`. */
export const residualOutput = (p: number) => `residual:${p}`;

/** The output name of a linear layer's input Gram matrix. */
export const gramOutput = (weight: string) => `gram:${weight}`;

/** The inputs of {@link transformerGraph} for one token sequence. */
export function graphFeeds(c: TransformerConfig, tokens: ArrayLike<number>, weights: Weights, weightsAsInputs: boolean): Record<string, ort.Tensor> {
  const T = tokens.length;
  const feeds: Record<string, ort.Tensor> = {
    ids: new ort.Tensor('int64', BigInt64Array.from(Array.from(tokens, BigInt)), [T]),
    positions: new ort.Tensor('int64', BigInt64Array.from({ length: T }, (_, t) => BigInt(t)), [T]),
    mask: new ort.Tensor('float32', causalMask(T), [T, T]),
  };
  if (weightsAsInputs) for (const [name, shape] of weightShapes(c)) feeds[name] = new ort.Tensor('float32', weights.get(name)!, shape);
  return feeds;
}

/** What both families start from: the builder, their weights by name, and the token (or residual) inputs. */
function start(c: TransformerConfig, T: number, weights: Weights, weightsAsInputs: boolean, options: GraphOptions) {
  const g = new GraphBuilder();
  const shapes = weightShapes(c);
  const grams = new Map<string, string>();
  const from = options.from ?? 0;
  return {
    g,
    shapes,
    /** Records the input of the linear layer `weight` (one Gram per distinct input) and passes it on. */
    tap: (x: string, weight: string, inFeatures: number) => {
      if (!options.grams) return x;
      if (!grams.has(x)) grams.set(x, g.op('MatMul', [g.op('Transpose', [x], { perm: [1, 0] }), x]));
      g.output(grams.get(x)!, gramOutput(weight), [inFeatures, inFeatures]);
      return x;
    },
    w: (name: string) => g.weight(name, shapes.get(name)!, weights.get(name)!, weightsAsInputs),
    /** The stream at `from`: the embeddings of `ids` (Llama ignores positions: both families take the same feeds), or the `residual` input. */
    stream: (embed: (ids: string, positions: string) => string) =>
      from === 0 ? embed(g.input('ids', [T], 'int64'), g.input('positions', [T], 'int64')) : g.input('residual', [T, c.dModel]),
    /** Runs sub-blocks `from`.. in order: `sub(x, s)` is sub-block s (block ⌊s/2⌋'s attention when s is even, its MLP when odd). */
    subBlocks: (x: string, sub: (x: string, s: number) => string) => {
      const last = residualPoints(c) - 1;
      for (let s = from; s < last; s++) {
        x = sub(x, s);
        if (options.residuals && s + 1 < last) g.output(x, residualOutput(s + 1), [T, c.dModel]);
      }
      return x;
    },
    mask: g.input('mask', [T, T]),
    d: c.dModel,
    H: c.nHeads,
    hd: c.dModel / c.nHeads,
  };
}

function gpt2Graph(c: TransformerConfig, T: number, weights: Weights, weightsAsInputs: boolean, options: GraphOptions): Uint8Array {
  const { g, w, tap, shapes, stream, subBlocks, mask, d } = start(c, T, weights, weightsAsInputs, options);
  // The tied LM head reads the token embedding: it is an input whenever logits are made.
  const wte = (options.from ?? 0) === 0 || options.logits !== false ? w('wte.weight') : '';
  const linear = (x: string, prefix: string) =>
    g.op('Add', [g.op('MatMul', [tap(x, `${prefix}.weight`, shapes.get(`${prefix}.weight`)![0]), w(`${prefix}.weight`)]), w(`${prefix}.bias`)]);
  const layerNorm = (x: string, prefix: string) =>
    g.op('LayerNormalization', [x, w(`${prefix}.weight`), w(`${prefix}.bias`)], { axis: -1, epsilon: { float: c.normEps } });
  const heads = (x: string, perm: number[], h: number) => g.op('Transpose', [g.op('Reshape', [x, g.ints([T, h, d / h])])], { perm });

  const attention = (x: string, i: number) => {
    const p = `h.${i}`;
    const qkv = linear(layerNorm(x, `${p}.ln_1`), `${p}.attn.c_attn`);
    const [q, k, v] = splitThree(g, qkv, d);
    const H = blockHeads(c, i);
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [heads(q, [1, 0, 2], H), heads(k, [1, 2, 0], H)]), g.scalar(1 / Math.sqrt(d / H))]), mask]);
    const attended = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), heads(v, [1, 0, 2], H)]);
    const merged = g.op('Reshape', [g.op('Transpose', [attended], { perm: [1, 0, 2] }), g.ints([T, d])]);
    return g.op('Add', [x, linear(merged, `${p}.attn.c_proj`)]);
  };
  const mlp = (x: string, i: number) => {
    const p = `h.${i}`;
    const f = geluTanh(g, linear(layerNorm(x, `${p}.ln_2`), `${p}.mlp.c_fc`));
    return g.op('Add', [x, linear(f, `${p}.mlp.c_proj`)]);
  };
  const embedded = stream((ids, positions) => g.op('Add', [g.op('Gather', [wte, ids]), g.op('Gather', [w('wpe.weight'), positions])]));
  const x = subBlocks(embedded, (x, s) => (s % 2 === 0 ? attention(x, s >> 1) : mlp(x, s >> 1)));
  if (options.logits !== false) g.output(g.op('MatMul', [layerNorm(x, 'ln_f'), g.op('Transpose', [wte], { perm: [1, 0] })]), 'logits', [T, c.vocabSize]);
  return g.encode();
}

/** RMSNorm, RoPE (rotate-half, tables baked in for T), grouped-query attention, SwiGLU; Linear weights are [out, in]. */
function llamaGraph(c: TransformerConfig, T: number, weights: Weights, weightsAsInputs: boolean, options: GraphOptions): Uint8Array {
  const { g, w, tap, shapes, stream, subBlocks, mask, d, H, hd } = start(c, T, weights, weightsAsInputs, options);
  const needsEmbedding = (options.from ?? 0) === 0 || (options.logits !== false && c.tieEmbeddings);
  const embed = needsEmbedding ? w('model.embed_tokens.weight') : '';
  const linear = (x: string, name: string) => g.op('Gemm', [tap(x, name, shapes.get(name)![1]), w(name)], { transB: 1 });
  const rmsNorm = (x: string, name: string) => {
    const meanSquare = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
    return g.op('Mul', [g.op('Div', [x, g.op('Sqrt', [g.op('Add', [meanSquare, g.scalar(c.normEps)])])]), w(name)]);
  };
  const [cos, sin] = ropeTables(T, hd, c.ropeTheta).map((table, k) => g.constant(`rope_${k ? 'sin' : 'cos'}`, [T, hd], table));
  const half = hd / 2;
  const rope = (x: string) => {
    const first = g.op('Slice', [x, g.ints([0]), g.ints([half]), g.ints([-1])]);
    const second = g.op('Slice', [x, g.ints([half]), g.ints([hd]), g.ints([-1])]);
    const rotated = g.op('Concat', [g.op('Neg', [second]), first], { axis: -1 });
    return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rotated, sin])]);
  };
  const heads = (x: string, n: number) => g.op('Transpose', [g.op('Reshape', [x, g.ints([T, n, hd])])], { perm: [1, 0, 2] });
  // Query head h reads key/value head floor(h / group).
  const group = H / c.nKvHeads;
  const expandKv = (x: string) => (group === 1 ? x : g.op('Gather', [x, g.ints(Array.from({ length: H }, (_, h) => Math.floor(h / group)))], { axis: 0 }));

  const attention = (x: string, i: number) => {
    const p = `model.layers.${i}`;
    const h = rmsNorm(x, `${p}.input_layernorm.weight`);
    const q = rope(heads(linear(h, `${p}.self_attn.q_proj.weight`), H));
    const k = expandKv(rope(heads(linear(h, `${p}.self_attn.k_proj.weight`), c.nKvHeads)));
    const v = expandKv(heads(linear(h, `${p}.self_attn.v_proj.weight`), c.nKvHeads));
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 2, 1] })]), g.scalar(1 / Math.sqrt(hd))]), mask]);
    const attended = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v]);
    const merged = g.op('Reshape', [g.op('Transpose', [attended], { perm: [1, 0, 2] }), g.ints([T, d])]);
    return g.op('Add', [x, linear(merged, `${p}.self_attn.o_proj.weight`)]);
  };
  const mlp = (x: string, i: number) => {
    const p = `model.layers.${i}`;
    const h2 = rmsNorm(x, `${p}.post_attention_layernorm.weight`);
    const gate = linear(h2, `${p}.mlp.gate_proj.weight`);
    const swiglu = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), linear(h2, `${p}.mlp.up_proj.weight`)]);
    return g.op('Add', [x, linear(swiglu, `${p}.mlp.down_proj.weight`)]);
  };
  const x = subBlocks(
    stream((ids) => g.op('Gather', [embed, ids])),
    (x, s) => (s % 2 === 0 ? attention(x, s >> 1) : mlp(x, s >> 1)),
  );
  if (options.logits !== false) {
    const head = c.tieEmbeddings ? embed : w('lm_head.weight');
    g.output(g.op('Gemm', [rmsNorm(x, 'model.norm.weight'), head], { transB: 1 }), 'logits', [T, c.vocabSize]);
  }
  return g.encode();
}

/** cos and sin of t·θ^(−2i/hd), duplicated across both halves of the head as Hugging Face does. */
function ropeTables(T: number, hd: number, theta: number): [Float32Array, Float32Array] {
  const cos = new Float32Array(T * hd);
  const sin = new Float32Array(T * hd);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < hd; i++) {
      const angle = t * theta ** (-(2 * (i % (hd / 2))) / hd);
      cos[t * hd + i] = Math.cos(angle);
      sin[t * hd + i] = Math.sin(angle);
    }
  }
  return [cos, sin];
}

function splitThree(g: GraphBuilder, x: string, d: number): [string, string, string] {
  const part = (k: number) => g.op('Slice', [x, g.ints([k * d]), g.ints([(k + 1) * d]), g.ints([1])]);
  return [part(0), part(1), part(2)];
}

/** 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), as transformer.ts computes it. */
function geluTanh(g: GraphBuilder, x: string): string {
  const cube = g.op('Mul', [g.op('Mul', [x, x]), x]);
  const inner = g.op('Mul', [g.op('Add', [x, g.op('Mul', [cube, g.scalar(0.044715)])]), g.scalar(Math.sqrt(2 / Math.PI))]);
  return g.op('Mul', [g.op('Mul', [x, g.scalar(0.5)]), g.op('Add', [g.op('Tanh', [inner]), g.scalar(1)])]);
}
