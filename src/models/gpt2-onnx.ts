import type { TransformerConfig } from './config.js';
import { weightShapes } from './config.js';
import type { Weights } from './transformer.js';
import { GraphBuilder } from '../runtime/onnx-graph.js';

/**
 * The GPT-2 forward pass of transformer.ts as an ONNX graph for one sequence of `T` tokens, for
 * onnxruntime. Inputs: `ids` and `positions` (int64 [T]), `mask` (float [T, T]: 0 where a token
 * may attend, a large negative number where it may not) and, when `weightsAsInputs`, every
 * weight under its Hugging Face name, so that a candidate swaps tensors rather than sessions.
 * Output: `logits` [T, vocab].
 */
export function gpt2Graph(c: TransformerConfig, T: number, weights: Weights, weightsAsInputs: boolean): Uint8Array {
  if (c.family !== 'gpt2') throw new Error('gpt2Graph: not a GPT-2 config');
  const g = new GraphBuilder();
  const shapes = weightShapes(c);
  const w = (name: string) => g.weight(name, shapes.get(name)!, weights.get(name)!, weightsAsInputs);
  const d = c.dModel;
  const H = c.nHeads;
  const hd = d / H;
  const ids = g.input('ids', [T], 'int64');
  const positions = g.input('positions', [T], 'int64');
  const mask = g.input('mask', [T, T]);
  const wte = w('wte.weight');
  const linear = (x: string, prefix: string) => g.op('Add', [g.op('MatMul', [x, w(`${prefix}.weight`)]), w(`${prefix}.bias`)]);
  const layerNorm = (x: string, prefix: string) =>
    g.op('LayerNormalization', [x, w(`${prefix}.weight`), w(`${prefix}.bias`)], { axis: -1, epsilon: { float: c.normEps } });
  const heads = (x: string, perm: number[]) => g.op('Transpose', [g.op('Reshape', [x, g.ints([T, H, hd])])], { perm });

  let x = g.op('Add', [g.op('Gather', [wte, ids]), g.op('Gather', [w('wpe.weight'), positions])]);
  for (let i = 0; i < c.nLayers; i++) {
    const p = `h.${i}`;
    const qkv = linear(layerNorm(x, `${p}.ln_1`), `${p}.attn.c_attn`);
    const [q, k, v] = splitThree(g, qkv, d);
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [heads(q, [1, 0, 2]), heads(k, [1, 2, 0])]), g.scalar(1 / Math.sqrt(hd))]), mask]);
    const attended = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), heads(v, [1, 0, 2])]);
    const merged = g.op('Reshape', [g.op('Transpose', [attended], { perm: [1, 0, 2] }), g.ints([T, d])]);
    x = g.op('Add', [x, linear(merged, `${p}.attn.c_proj`)]);
    const f = geluTanh(g, linear(layerNorm(x, `${p}.ln_2`), `${p}.mlp.c_fc`));
    x = g.op('Add', [x, linear(f, `${p}.mlp.c_proj`)]);
  }
  const logits = g.op('MatMul', [layerNorm(x, 'ln_f'), g.op('Transpose', [wte], { perm: [1, 0] })]);
  g.output(logits, 'logits', [T, c.vocabSize]);
  return g.encode();
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

/** The additive causal mask for T tokens: 0 on and below the diagonal, -1e9 above. */
export function causalMask(T: number): Float32Array {
  const mask = new Float32Array(T * T);
  for (let t = 0; t < T; t++) for (let s = t + 1; s < T; s++) mask[t * T + s] = -1e9;
  return mask;
}
