import type * as TF from '@tensorflow/tfjs';
import type { TransformerConfig } from './config.js';
import { weightShapes } from './config.js';
import { causalMask, type Weights } from './transformer.js';
import type { TransformerRunner } from './transformer-runner.js';
import { initTensorflow } from '../runtime/tfjs.js';
import { trainableGpt2, type TrainableGpt2 } from './gpt2-training.js';

type Tensor = TF.Tensor;

/**
 * The forward pass of transformer.ts on TensorFlow.js, for the `tfjs` evaluation backend. GPT-2 runs
 * the definition that trains the reference model and its students (gpt2-training.ts); Llama, which
 * nothing here trains, is defined below. One
 * tensor per weight, kept on the backend between calls, so a candidate is stitched by replacing
 * the few weights it changes ({@link setWeight}) rather than by rebuilding the model.
 *
 * Every product is a plain matMul of tensors already in [in, out] layout: on tfjs's wasm backend
 * matMul with its transpose flags is about 12× slower than an explicit transpose and a plain
 * matMul, so Linear weights and the LM head are transposed once, when they are set.
 */
export class TfjsTransformer {
  readonly #shapes: Map<string, number[]>;
  /** Weights by Hugging Face name; Llama's Linear weights are stored transposed, as [in, out]. */
  readonly #w = new Map<string, Tensor>();
  /** The embedding, transposed, when the LM head is tied to it. */
  #tiedHead: Tensor | undefined;
  /** Additive causal mask [context, context]: 0 where a token may attend, -1e9 where it may not. */
  readonly #mask: Tensor;
  /** RoPE's cos and sin of t·θ^(−2i/hd), [context, head], duplicated across both halves (Llama only). */
  readonly #rope: [Tensor, Tensor] | undefined;
  /** GPT-2's forward pass, reading the weights of #w at every call. */
  readonly #gpt2: TrainableGpt2 | undefined;

  constructor(
    private readonly tf: typeof TF,
    readonly config: TransformerConfig,
    weights: Weights,
  ) {
    const c = config;
    const n = c.contextLength;
    const hd = c.dModel / c.nHeads;
    this.#shapes = weightShapes(c);
    this.#mask = tf.tensor2d(causalMask(n), [n, n]);
    if (c.family === 'llama') {
      // Angles in float64, then rounded to float32, as transformer-onnx.ts bakes its tables.
      const angle = (i: number) => Math.floor(i / hd) * c.ropeTheta ** (-(2 * ((i % hd) % (hd / 2))) / hd);
      const table = (f: (a: number) => number) => tf.tensor2d(Float32Array.from({ length: n * hd }, (_, i) => f(angle(i))), [n, hd]);
      this.#rope = [table(Math.cos), table(Math.sin)];
    }
    for (const name of this.#shapes.keys()) this.setWeight(name, weights.get(name) ?? missing(name));
    if (c.family === 'gpt2') this.#gpt2 = trainableGpt2(tf, c, this.#w);
  }

  /** Replaces one weight (Hugging Face name and layout), disposing the tensor it held. */
  setWeight(name: string, data: Float32Array): void {
    const { tf, config: c } = this;
    const shape = this.#shapes.get(name);
    if (!shape) throw new Error(`TfjsTransformer: a ${c.family} model of this shape has no weight "${name}"`);
    const size = shape.reduce((a, b) => a * b, 1);
    if (data.length !== size) throw new Error(`TfjsTransformer: weight "${name}" needs ${size} values [${shape.join(', ')}], got ${data.length}`);
    const embedding = 'model.embed_tokens.weight';
    // Every 2-D Llama weight but the embedding is a Linear, [out, in]; GPT-2's Conv1D is already [in, out].
    const linear = c.family === 'llama' && shape.length === 2 && name !== embedding;
    // A copy: the cpu backend keeps a reference to the array it is given, which the caller may reuse.
    const tensor = tf.tidy(() => {
      const t = tf.tensor(data.slice(), shape);
      return linear ? t.transpose() : t;
    });
    this.#w.get(name)?.dispose();
    this.#w.set(name, tensor);
    if (c.family === 'llama' && name === embedding && c.tieEmbeddings) {
      this.#tiedHead?.dispose();
      this.#tiedHead = tensor.transpose();
    }
  }

  /** Logits, row-major [tokens.length × vocabSize], for one sequence of at most contextLength tokens. */
  logits(tokens: ArrayLike<number>): Float32Array {
    const { tf, config: c } = this;
    const T = tokens.length;
    if (T < 1 || T > c.contextLength) throw new Error(`TfjsTransformer: ${T} tokens; the context holds 1 to ${c.contextLength}`);
    return tf.tidy(() => {
      if (this.#gpt2) return this.#gpt2.logits(Int32Array.from(tokens), 1).dataSync() as Float32Array;
      const ids = tf.tensor1d(Int32Array.from(tokens), 'int32');
      const mask = this.#mask.slice([0, 0], [T, T]);
      const head = this.#tiedHead ?? this.#get('lm_head.weight');
      return tf.matMul(this.#llama(ids, mask, T), head).dataSync() as Float32Array;
    });
  }

  /** Frees every tensor this model holds. */
  dispose(): void {
    for (const t of this.#w.values()) t.dispose();
    this.#w.clear();
    this.#tiedHead?.dispose();
    this.#mask.dispose();
    this.#rope?.forEach((t) => t.dispose());
  }

  /** Llama up to the final RMSNorm: RoPE, RMSNorm, grouped-query attention, SwiGLU. */
  #llama(ids: Tensor, mask: Tensor, T: number): Tensor {
    const { tf, config: c } = this;
    const hd = c.dModel / c.nHeads;
    const linear = (x: Tensor, name: string) => tf.matMul(x, this.#get(name)); // stored as [in, out]
    const rmsNorm = (x: Tensor, name: string) => x.div(x.square().mean(-1, true).add(c.normEps).sqrt()).mul(this.#get(name));
    const [cos, sin] = this.#rope!.map((table) => table.slice([0, 0], [T, hd]));
    // Rotate-half pairs (i, i + hd/2), as Hugging Face does; applied per head, [T, heads·hd] → same.
    const rope = (x: Tensor, heads: number) => {
      const h = x.reshape([T, heads, hd]);
      const [first, second] = tf.split(h, 2, 2);
      const rotated = tf.concat([second.neg(), first], 2);
      return h.mul(cos.expandDims(1)).add(rotated.mul(sin.expandDims(1))).reshape([T, heads * hd]);
    };
    let x = tf.gather(this.#get('model.embed_tokens.weight'), ids);
    for (let i = 0; i < c.nLayers; i++) {
      const p = `model.layers.${i}`;
      const h = rmsNorm(x, `${p}.input_layernorm.weight`);
      const q = rope(linear(h, `${p}.self_attn.q_proj.weight`), c.nHeads);
      const k = rope(linear(h, `${p}.self_attn.k_proj.weight`), c.nKvHeads);
      const v = linear(h, `${p}.self_attn.v_proj.weight`);
      x = x.add(linear(this.#attention(q, k, v, c.nKvHeads, mask), `${p}.self_attn.o_proj.weight`));
      const h2 = rmsNorm(x, `${p}.post_attention_layernorm.weight`);
      const gate = linear(h2, `${p}.mlp.gate_proj.weight`);
      const swiglu = gate.mul(tf.sigmoid(gate)).mul(linear(h2, `${p}.mlp.up_proj.weight`));
      x = x.add(linear(swiglu, `${p}.mlp.down_proj.weight`));
    }
    return rmsNorm(x, 'model.norm.weight');
  }

  /**
   * Causal attention of q [T, nHeads·hd] over k, v [T, nKv·hd] → [T, nHeads·hd]; query head h reads
   * key/value head floor(h / group) (grouped-query attention; group 1 for GPT-2). One plain 2-D
   * matMul per head: on wasm, tfjs's batched matMul over heads is ~2.5× slower than these.
   */
  #attention(q: Tensor, k: Tensor, v: Tensor, nKv: number, mask: Tensor): Tensor {
    const { tf, config: c } = this;
    const H = c.nHeads;
    const group = H / nKv;
    const scale = 1 / Math.sqrt(c.dModel / H);
    const kT = tf.split(k.transpose(), nKv, 0); // [hd, T] per kv head: transposed here, not by a matMul flag
    const vs = tf.split(v, nKv, 1); // [T, hd] per kv head
    const heads = tf.split(q, H, 1).map((qh, h) => {
      const kv = Math.floor(h / group);
      return tf.matMul(tf.softmax(tf.matMul(qh, kT[kv]).mul(scale).add(mask)), vs[kv]);
    });
    return tf.concat(heads, 1);
  }

  #get(name: string): Tensor {
    return this.#w.get(name) ?? missing(name);
  }
}

function missing(name: string): never {
  throw new Error(`TfjsTransformer: weight "${name}" is missing`);
}

/**
 * The `tfjs` backend of a language model: TensorFlow.js (tfjs-node-gpu or tfjs-node when
 * installed, else wasm). The model keeps its weight tensors; a write re-uploads only the weights
 * it names, which is what stitching a candidate changes.
 */
export async function tfjsTransformerRunner(config: TransformerConfig, dense: Weights): Promise<TransformerRunner> {
  const { tf, backend } = await initTensorflow();
  const model = new TfjsTransformer(tf, config, dense);
  return {
    name: `tfjs (${backend})`,
    write(changes) {
      for (const [name, data] of changes) model.setWeight(name, data);
    },
    run: async (tokens) => model.logits(tokens),
    close: async () => model.dispose(),
  };
}
