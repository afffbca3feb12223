import { join } from 'node:path';
import type { TransformerConfig } from './config.js';
import { blockFf, blockHeads, readTransformerConfig, weightShapes } from './config.js';
import { float32, readSafetensors } from './safetensors.js';
import { checkWeightValues } from './weight-values.js';
import { UserError } from '../errors.js';

/** Weights by Hugging Face name, float32, in the layouts of {@link weightShapes}. */
export type Weights = Map<string, Float32Array>;

export interface Transformer {
  config: TransformerConfig;
  weights: Weights;
}

/**
 * Buffers Hugging Face checkpoints store beside the weights (GPT-2's causal masks, a tied LM head's
 * copy of the embedding): not weights the config describes, and harmless to leave unread.
 */
const IGNORED_TENSORS = /(^|\.)attn\.(masked_)?bias$|^lm_head\.weight$/;

/**
 * Loads `config.json` + `model.safetensors` from a Hugging Face–style directory. Every weight the
 * forward pass needs must be there with the shape the config implies, finite and within ±1e6, and
 * every tensor of the file must be one of them (a config with fewer layers than the file would
 * silently drop the rest); a mismatch is one line naming the file and the tensors. GPT-2 files
 * that prefix names with "transformer." are accepted.
 */
export function loadTransformer(dir: string): Transformer {
  const config = readTransformerConfig(join(dir, 'config.json'));
  const file = join(dir, 'model.safetensors');
  const st = readSafetensors(file);
  for (const name of [...st.tensors.keys()]) {
    if (name.startsWith('transformer.')) st.tensors.set(name.slice('transformer.'.length), st.tensors.get(name)!);
  }
  const shapes = weightShapes(config);
  const unused = [...st.tensors.keys()].filter((name) => !shapes.has(name) && !name.startsWith('transformer.') && !IGNORED_TENSORS.test(name));
  if (unused.length) {
    const shown = unused.length > 4 ? `${unused.slice(0, 4).join(', ')} and ${unused.length - 4} more` : unused.join(', ');
    throw new UserError(`${file}: ${unused.length} tensors that ${join(dir, 'config.json')} does not use (n_layer ${config.nLayers}): ${shown}`);
  }
  const weights: Weights = new Map();
  for (const [name, shape] of shapes) {
    const data = float32(st, name, shape, file);
    checkWeightValues(data, name, file);
    weights.set(name, data);
  }
  return { config, weights };
}

/**
 * Sees the residual stream [T × d]: point 0 after the embeddings, 2i + 1 after block i's attention
 * sub-block, 2i + 2 after its MLP sub-block (what ShortGPT's block influence compares).
 */
export type ResidualHook = (point: number, x: Float32Array) => void;

/** Logits [tokens.length × vocabSize] for one sequence, read top to bottom like a reference implementation. */
export function forward({ config: c, weights: w }: Transformer, tokens: ArrayLike<number>, onResidual?: ResidualHook): Float32Array {
  const T = tokens.length;
  const d = c.dModel;
  if (T > c.contextLength) throw new Error(`forward: ${T} tokens exceed the context of ${c.contextLength}`);
  const get = (name: string) => w.get(name) ?? missing(name);

  if (c.family === 'gpt2') {
    const wte = get('wte.weight');
    const wpe = get('wpe.weight');
    let x: Float32Array = new Float32Array(T * d);
    for (let t = 0; t < T; t++) for (let j = 0; j < d; j++) x[t * d + j] = wte[tokens[t] * d + j] + wpe[t * d + j];
    onResidual?.(0, x);
    for (let i = 0; i < c.nLayers; i++) {
      const p = `h.${i}.`;
      const h = layerNorm(x, get(`${p}ln_1.weight`), get(`${p}ln_1.bias`), d, c.normEps);
      const qkv = addBias(matmul(h, get(`${p}attn.c_attn.weight`), T, d, 3 * d), get(`${p}attn.c_attn.bias`));
      const [q, k, v] = splitColumns(qkv, T, [d, d, d]);
      const heads = blockHeads(c, i);
      const a = attention(q, k, v, T, heads, heads, d / heads);
      x = add(x, addBias(matmul(a, get(`${p}attn.c_proj.weight`), T, d, d), get(`${p}attn.c_proj.bias`)));
      onResidual?.(2 * i + 1, x);
      const h2 = layerNorm(x, get(`${p}ln_2.weight`), get(`${p}ln_2.bias`), d, c.normEps);
      const ff = blockFf(c, i);
      const f = addBias(matmul(h2, get(`${p}mlp.c_fc.weight`), T, d, ff), get(`${p}mlp.c_fc.bias`)).map(geluTanh);
      x = add(x, addBias(matmul(f, get(`${p}mlp.c_proj.weight`), T, ff, d), get(`${p}mlp.c_proj.bias`)));
      onResidual?.(2 * i + 2, x);
    }
    const out = layerNorm(x, get('ln_f.weight'), get('ln_f.bias'), d, c.normEps);
    return linear(out, wte, T, d, c.vocabSize); // the LM head is tied to the token embedding
  }

  const head = d / c.nHeads;
  const embed = get('model.embed_tokens.weight');
  let x: Float32Array = new Float32Array(T * d);
  for (let t = 0; t < T; t++) x.set(embed.subarray(tokens[t] * d, (tokens[t] + 1) * d), t * d);
  onResidual?.(0, x);
  for (let i = 0; i < c.nLayers; i++) {
    const p = `model.layers.${i}.`;
    const h = rmsNorm(x, get(`${p}input_layernorm.weight`), d, c.normEps);
    const q = rope(linear(h, get(`${p}self_attn.q_proj.weight`), T, d, c.nHeads * head), T, c.nHeads, head, c.ropeTheta);
    const k = rope(linear(h, get(`${p}self_attn.k_proj.weight`), T, d, c.nKvHeads * head), T, c.nKvHeads, head, c.ropeTheta);
    const v = linear(h, get(`${p}self_attn.v_proj.weight`), T, d, c.nKvHeads * head);
    const a = attention(q, k, v, T, c.nHeads, c.nKvHeads, head);
    x = add(x, linear(a, get(`${p}self_attn.o_proj.weight`), T, c.nHeads * head, d));
    onResidual?.(2 * i + 1, x);
    const h2 = rmsNorm(x, get(`${p}post_attention_layernorm.weight`), d, c.normEps);
    const gate = linear(h2, get(`${p}mlp.gate_proj.weight`), T, d, c.dFf);
    const up = linear(h2, get(`${p}mlp.up_proj.weight`), T, d, c.dFf);
    const swiglu = gate.map((g, j) => silu(g) * up[j]);
    x = add(x, linear(swiglu, get(`${p}mlp.down_proj.weight`), T, c.dFf, d));
    onResidual?.(2 * i + 2, x);
  }
  const out = rmsNorm(x, get('model.norm.weight'), d, c.normEps);
  return linear(out, c.tieEmbeddings ? embed : get('lm_head.weight'), T, d, c.vocabSize);
}

function missing(name: string): never {
  throw new Error(`forward: weight "${name}" is missing`);
}

/** x [rows × n] · W [n × m] (GPT-2's Conv1D layout). */
function matmul(x: Float32Array, W: Float32Array, rows: number, n: number, m: number): Float32Array {
  const y = new Float32Array(rows * m);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < n; k++) {
      const xv = x[r * n + k];
      if (xv === 0) continue;
      for (let j = 0; j < m; j++) y[r * m + j] += xv * W[k * m + j];
    }
  }
  return y;
}

/** x [rows × n] · Wᵀ with W [m × n] (torch.nn.Linear's layout). */
function linear(x: Float32Array, W: Float32Array, rows: number, n: number, m: number): Float32Array {
  const y = new Float32Array(rows * m);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += x[r * n + k] * W[j * n + k];
      y[r * m + j] = s;
    }
  }
  return y;
}

function addBias(x: Float32Array, b: Float32Array): Float32Array {
  for (let i = 0; i < x.length; i++) x[i] += b[i % b.length];
  return x;
}

function add(a: Float32Array, b: Float32Array): Float32Array {
  return a.map((v, i) => v + b[i]);
}

function splitColumns(x: Float32Array, rows: number, widths: number[]): Float32Array[] {
  const total = widths.reduce((s, w) => s + w, 0);
  let offset = 0;
  return widths.map((w) => {
    const part = new Float32Array(rows * w);
    for (let r = 0; r < rows; r++) part.set(x.subarray(r * total + offset, r * total + offset + w), r * w);
    offset += w;
    return part;
  });
}

function layerNorm(x: Float32Array, g: Float32Array, b: Float32Array, d: number, eps: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let r = 0; r < x.length / d; r++) {
    let mean = 0;
    for (let j = 0; j < d; j++) mean += x[r * d + j];
    mean /= d;
    let variance = 0;
    for (let j = 0; j < d; j++) variance += (x[r * d + j] - mean) ** 2;
    const scale = 1 / Math.sqrt(variance / d + eps);
    for (let j = 0; j < d; j++) y[r * d + j] = (x[r * d + j] - mean) * scale * g[j] + b[j];
  }
  return y;
}

function rmsNorm(x: Float32Array, g: Float32Array, d: number, eps: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let r = 0; r < x.length / d; r++) {
    let ms = 0;
    for (let j = 0; j < d; j++) ms += x[r * d + j] ** 2;
    const scale = 1 / Math.sqrt(ms / d + eps);
    for (let j = 0; j < d; j++) y[r * d + j] = x[r * d + j] * scale * g[j];
  }
  return y;
}

/** Rotary position embedding, Hugging Face's "rotate half" pairing (i, i + head/2). */
export function rope(x: Float32Array, T: number, heads: number, head: number, theta: number): Float32Array {
  const half = head / 2;
  const y = new Float32Array(x.length);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < heads; h++) {
      const base = t * heads * head + h * head;
      for (let i = 0; i < half; i++) {
        const angle = t * theta ** (-(2 * i) / head);
        const cos = Math.cos(angle);
        const sin = Math.sin(angle);
        const a = x[base + i];
        const b = x[base + i + half];
        y[base + i] = a * cos - b * sin;
        y[base + i + half] = b * cos + a * sin;
      }
    }
  }
  return y;
}

/** Causal multi-head attention; with grouped-query attention each key/value head serves nHeads/nKv query heads. */
function attention(q: Float32Array, k: Float32Array, v: Float32Array, T: number, nHeads: number, nKv: number, head: number): Float32Array {
  const out = new Float32Array(T * nHeads * head);
  const scores = new Float64Array(T);
  const group = nHeads / nKv;
  for (let h = 0; h < nHeads; h++) {
    const kv = Math.floor(h / group);
    for (let t = 0; t < T; t++) {
      let max = -Infinity;
      for (let s = 0; s <= t; s++) {
        let dot = 0;
        for (let i = 0; i < head; i++) dot += q[t * nHeads * head + h * head + i] * k[s * nKv * head + kv * head + i];
        scores[s] = dot / Math.sqrt(head);
        max = Math.max(max, scores[s]);
      }
      let sum = 0;
      for (let s = 0; s <= t; s++) sum += scores[s] = Math.exp(scores[s] - max);
      for (let s = 0; s <= t; s++) {
        const p = scores[s] / sum;
        for (let i = 0; i < head; i++) out[t * nHeads * head + h * head + i] += p * v[s * nKv * head + kv * head + i];
      }
    }
  }
  return out;
}

/** GPT-2's GELU ("gelu_new"): the tanh approximation. */
function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** The additive causal mask for T tokens: 0 on and below the diagonal, -1e9 above. */
export function causalMask(T: number): Float32Array {
  const mask = new Float32Array(T * T);
  for (let t = 0; t < T; t++) for (let s = t + 1; s < T; s++) mask[t * T + s] = -1e9;
  return mask;
}
