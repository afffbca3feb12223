import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../src/rng/rng.js';
import { firstPointAffected, parseTransformerConfig, residualPoints, subBlocks, weightShapes, type TransformerConfig } from '../src/models/config.js';
import { forward, loadTransformer, type Transformer, type Weights } from '../src/models/transformer.js';
import { writeSafetensors } from '../src/models/safetensors.js';
import { tempDir } from './cli-helpers.js';
import { blockInfluence } from '../src/compress/influence.js';

const gpt2Json = { model_type: 'gpt2', vocab_size: 11, n_positions: 16, n_embd: 8, n_layer: 2, n_head: 2 };
const llamaJson = {
  model_type: 'llama', vocab_size: 11, max_position_embeddings: 16, hidden_size: 8, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 12, tie_word_embeddings: false,
};

function randomWeights(config: TransformerConfig, seed: number): Weights {
  const rng = Rng.fromSeed(seed);
  const weights: Weights = new Map();
  for (const [name, shape] of weightShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    // Norm gains near 1, everything else small, as a trained model has them.
    const isGain = /(ln_\d|ln_f|layernorm|norm)\.weight$/.test(name);
    weights.set(name, Float32Array.from({ length: n }, () => (isGain ? 1 : 0) + 0.3 * rng.normal()));
  }
  return weights;
}

const model = (json: object, seed = 1): Transformer => {
  const config = parseTransformerConfig(json, 'config.json');
  return { config, weights: randomWeights(config, seed) };
};
const tokens = [3, 1, 4, 1, 5, 9, 2, 6];

describe.each([
  ['gpt2', gpt2Json],
  ['llama', llamaJson],
])('%s forward pass', (_family, json) => {
  const m = model(json);
  const V = m.config.vocabSize;

  it('is causal: a later token never changes earlier logits', () => {
    const a = forward(m, tokens);
    const changed = tokens.slice();
    changed[5] = 7;
    const b = forward(m, changed);
    expect(Array.from(b.subarray(0, 5 * V))).toEqual(Array.from(a.subarray(0, 5 * V)));
    expect(Array.from(b.subarray(5 * V))).not.toEqual(Array.from(a.subarray(5 * V)));
  });

  it('gives finite logits of shape tokens × vocabulary, the same for a prefix', () => {
    const all = forward(m, tokens);
    expect(all).toHaveLength(tokens.length * V);
    expect(all.every(Number.isFinite)).toBe(true);
    expect(Array.from(forward(m, tokens.slice(0, 3)))).toEqual(Array.from(all.subarray(0, 3 * V)));
  });
});

describe('reference checks', () => {
  it('gpt2 with silent blocks is LayerNorm(wte + wpe) · wteᵀ, computed by hand', () => {
    const m = model({ ...gpt2Json, n_layer: 1 });
    for (const [name, w] of m.weights) if (name.startsWith('h.0.attn') || name.startsWith('h.0.mlp')) w.fill(0);
    m.weights.get('ln_f.weight')!.fill(1);
    m.weights.get('ln_f.bias')!.fill(0);
    const d = 8;
    const wte = m.weights.get('wte.weight')!;
    const wpe = m.weights.get('wpe.weight')!;
    const logits = forward(m, [4, 2]);
    for (const [t, token] of [4, 2].entries()) {
      const x = Array.from({ length: d }, (_, j) => wte[token * d + j] + wpe[t * d + j]);
      const mean = x.reduce((a, b) => a + b) / d;
      const sd = Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / d + 1e-5);
      const n = x.map((v) => (v - mean) / sd);
      for (let v = 0; v < 11; v++) {
        const expected = n.reduce((s, nj, j) => s + nj * wte[v * d + j], 0);
        expect(logits[t * 11 + v]).toBeCloseTo(expected, 4);
      }
    }
  });

  it('llama grouped-query attention equals full attention with each key/value head repeated', () => {
    const gqa = model(llamaJson, 3);
    const full: Transformer = { config: { ...gqa.config, nKvHeads: gqa.config.nHeads }, weights: new Map(gqa.weights) };
    const head = gqa.config.dModel / gqa.config.nHeads;
    const group = gqa.config.nHeads / gqa.config.nKvHeads;
    for (let i = 0; i < gqa.config.nLayers; i++) {
      for (const proj of ['k_proj', 'v_proj']) {
        const name = `model.layers.${i}.self_attn.${proj}.weight`;
        const w = gqa.weights.get(name)!;
        const d = gqa.config.dModel;
        const repeated = new Float32Array(gqa.config.nHeads * head * d);
        for (let h = 0; h < gqa.config.nHeads; h++) repeated.set(w.subarray(Math.floor(h / group) * head * d, (Math.floor(h / group) + 1) * head * d), h * head * d);
        full.weights.set(name, repeated);
      }
    }
    const a = forward(gqa, tokens);
    const b = forward(full, tokens);
    expect(a.length).toBeGreaterThan(0);
    expect(b).toHaveLength(a.length);
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 5);
  });

  it('llama with a tied head equals an explicit lm_head copied from the embedding', () => {
    const tied = model({ ...llamaJson, tie_word_embeddings: true }, 5);
    const untied: Transformer = { config: { ...tied.config, tieEmbeddings: false }, weights: new Map(tied.weights) };
    untied.weights.set('lm_head.weight', tied.weights.get('model.embed_tokens.weight')!);
    expect(Array.from(forward(untied, tokens))).toEqual(Array.from(forward(tied, tokens)));
  });
});

describe('loading a Hugging Face–style directory', () => {
  const dir = tempDir();
  const write = (name: string, json: object, weights: Weights, rename: (n: string) => string = (n) => n) => {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'config.json'), JSON.stringify(json));
    const config = parseTransformerConfig(json, 'config.json');
    writeSafetensors(join(d, 'model.safetensors'), Object.fromEntries([...weights].map(([n, data]) => [rename(n), { shape: weightShapes(config).get(n)!, data }])));
    return d;
  };

  it('loads what it wrote (with the "transformer." prefix GPT-2 files use)', () => {
    const m = model(gpt2Json, 8);
    const loaded = loadTransformer(write('gpt2', gpt2Json, m.weights, (n) => `transformer.${n}`));
    expect(Array.from(forward(loaded, tokens))).toEqual(Array.from(forward(m, tokens)));
  });

  it('refuses a config that does not match the weights, naming the tensor', () => {
    const m = model(llamaJson, 9);
    const d = write('llama', llamaJson, m.weights);
    writeFileSync(join(d, 'config.json'), JSON.stringify({ ...llamaJson, intermediate_size: 16 }));
    expect(() => loadTransformer(d)).toThrow(/model\.safetensors: tensor "model\.layers\.0\.mlp\.gate_proj\.weight" has shape \[12, 8\], expected \[16, 8\]/);
  });

  it('refuses an unknown model type and inconsistent head counts with one line naming config.json', () => {
    expect(() => parseTransformerConfig({ ...gpt2Json, model_type: 'bert' }, 'm/config.json')).toThrow(/m\/config\.json: model_type: .*'gpt2' \| 'llama'.*\(got "bert"\)/);
    expect(() => parseTransformerConfig({ ...llamaJson, num_key_value_heads: 3 }, 'm/config.json')).toThrow(/not a multiple of num_key_value_heads 3/);
  });
});

describe('rotary position embedding', () => {
  it('makes q·k depend only on the distance between positions, and keeps norms', async () => {
    const { rope } = await import('../src/models/transformer.js');
    const rng = Rng.fromSeed('rope');
    const head = 8;
    const q = Float32Array.from({ length: head }, () => rng.normal());
    const k = Float32Array.from({ length: head }, () => rng.normal());
    /** The vector placed at position `at` of a 12-token sequence, rotated, read back. */
    const at = (v: Float32Array, position: number) => {
      const seq = new Float32Array(12 * head);
      seq.set(v, position * head);
      return rope(seq, 12, 1, head, 10000).subarray(position * head, (position + 1) * head);
    };
    const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i], 0);
    expect(dot(at(q, 7), at(k, 3))).toBeCloseTo(dot(at(q, 9), at(k, 5)), 5);
    expect(dot(at(q, 7), at(k, 3))).not.toBeCloseTo(dot(at(q, 7), at(k, 5)), 3);
    expect(Math.hypot(...at(q, 11))).toBeCloseTo(Math.hypot(...q), 5);
  });
});

const elasticJson = { ...gpt2Json, n_layer: 3, n_head_per_layer: [1, 2, 4], n_inner_per_layer: [8, 24, 16] };

describe('one model definition, two executions', () => {
  it.each([
    ['gpt2', { ...gpt2Json, n_layer: 3 }],
    ['gpt2 elastic', elasticJson],
  ])('%s: the TensorFlow.js definition that trains teachers and students gives the TypeScript forward pass logits', async (_name, json) => {
    const tf = await import('@tensorflow/tfjs');
    const { trainableGpt2 } = await import('../src/models/gpt2-training.js');
    const { batchIds } = await import('../src/models/gpt2-training.js');
    const m = model(json, 5);
    const T = m.config.contextLength;
    const ids = Uint16Array.from({ length: T + 1 }, (_, i) => (i * 7) % m.config.vocabSize);
    const params = new Map([...weightShapes(m.config)].map(([name, shape]) => [name, tf.variable(tf.tensor(m.weights.get(name)!, shape), false)]));
    const logits = tf.tidy(() => trainableGpt2(tf, m.config, params).logits(batchIds(ids, [0], T).ids, 1).dataSync() as Float32Array);
    tf.dispose([...params.values()]);
    const reference = forward(m, ids.subarray(0, T));
    expect(logits).toHaveLength(reference.length);
    expect(Math.max(...reference.map((r, i) => Math.abs(r - logits[i])))).toBeLessThan(1e-4);
  });

  it('refuses per-block lists that do not give every block, or heads that do not divide the width', () => {
    expect(() => parseTransformerConfig({ ...elasticJson, n_inner_per_layer: [8, 8] }, 'config.json')).toThrow(/config\.json: n_head_per_layer and n_inner_per_layer: expected both, with one entry for each of the 3 layers/);
    expect(() => parseTransformerConfig({ ...elasticJson, n_head_per_layer: [1, 3, 4] }, 'config.json')).toThrow(/config\.json: the model width 8 is not a multiple of the 3 heads of block 1/);
  });

  it.each([
    ['gpt2', true, { ...gpt2Json, n_layer: 3 }],
    ['gpt2', false, { ...gpt2Json, n_layer: 3 }],
    ['gpt2 elastic (heads and MLP width per block)', true, { ...gpt2Json, n_layer: 3, n_head_per_layer: [1, 2, 4], n_inner_per_layer: [8, 24, 16] }],
    ['llama (grouped-query)', true, llamaJson],
    ['llama (tied head, full attention)', false, { ...llamaJson, tie_word_embeddings: true, num_key_value_heads: 4 }],
  ] as const)('%s on onnxruntime gives the TypeScript forward pass logits (weights as inputs: %s)', async (_family, asInputs, json) => {
    const { transformerGraph, graphFeeds } = await import('../src/models/transformer-onnx.js');
    const { createSession } = await import('../src/runtime/onnx.js');
    const m = model(json, 12);
    const session = await createSession(transformerGraph(m.config, tokens.length, m.weights, asInputs));
    const onnx = (await session.run(graphFeeds(m.config, tokens, m.weights, asInputs))).logits.data as Float32Array;
    const reference = forward(m, tokens);
    let worst = 0;
    for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(onnx[i] - reference[i]));
    expect(onnx).toHaveLength(reference.length);
    expect(worst).toBeLessThan(1e-4);
  });
});

describe.each([
  ['gpt2', gpt2Json],
  ['llama', llamaJson],
])('%s block influence (ShortGPT)', (_family, json) => {
  it('is 0 for a sub-block that adds nothing to the residual stream, and positive for the others', () => {
    const m = model(json, 4);
    // Silence block 1's MLP: its output projection (and bias) to zero.
    for (const name of subBlocks(m.config)[3].outputs) m.weights.set(name, new Float32Array(m.weights.get(name)!.length));
    const windows = [Uint16Array.from(tokens), Uint16Array.from([2, 7, 1, 8, 2, 8])];
    const sub = blockInfluence(m, windows, 'sublayer');
    expect(sub).toHaveLength(4);
    expect(sub[3]).toBeCloseTo(0, 6);
    for (const i of [0, 1, 2]) expect(sub[i]).toBeGreaterThan(1e-3);
    const blocks = blockInfluence(m, windows, 'block');
    expect(blocks).toHaveLength(2);
    // Block 1 is its attention alone now; the streams it compares are the same as that sub-block's.
    expect(blocks[1]).toBeCloseTo(sub[2], 6);
    expect(blocks[0]).toBeGreaterThan(1e-3);
  });
});

describe.each([
  ['gpt2', gpt2Json],
  ['gpt2 elastic', { ...gpt2Json, n_layer: 3, n_head_per_layer: [1, 2, 4], n_inner_per_layer: [8, 24, 16] }],
  ['llama (grouped-query)', llamaJson],
  ['llama (tied head)', { ...llamaJson, tie_word_embeddings: true }],
])('%s prefix reuse', (_family, json) => {
  const m = model(json, 21);
  const streams = (weights: Weights) => {
    const out: Float32Array[] = [];
    forward({ config: m.config, weights }, tokens, (point, x) => (out[point] = x.slice()));
    return out;
  };

  it('knows the first residual point each weight changes', () => {
    const dense = streams(m.weights);
    expect(dense).toHaveLength(residualPoints(m.config));
    for (const name of weightShapes(m.config).keys()) {
      const changed = new Map(m.weights).set(name, m.weights.get(name)!.map((x) => x * 1.5 + 0.1));
      const first = streams(changed).findIndex((x, p) => x.some((v, i) => v !== dense[p][i]));
      // A weight that no stream depends on (the final norm, an untied head) lies past every point.
      expect([name, first < 0 ? residualPoints(m.config) : first]).toEqual([name, firstPointAffected(m.config, name)]);
    }
  });

  it('resumes mid-model on onnxruntime: the streams are the forward pass\'s, and the logits equal a whole pass bit for bit', async () => {
    const { createTransformerRunner } = await import('../src/models/transformer-runner.js');
    const runner = await createTransformerRunner(m.config, tokens.length, m.weights, 'onnx', 'cpu');
    try {
      const ids = Uint16Array.from(tokens);
      const whole = await runner.run(ids);
      const first = await runner.resume!(ids, 0, null);
      expect(first.logits).toEqual(whole);
      const reference = streams(m.weights);
      const cuts = [...first.residuals.keys()];
      expect(cuts).toEqual(Array.from({ length: residualPoints(m.config) - 2 }, (_, i) => i + 1));
      for (const p of cuts) {
        let worst = 0;
        first.residuals.get(p)!.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - reference[p][i]))));
        expect(worst).toBeLessThan(1e-4);
        const resumed = await runner.resume!(ids, p, first.residuals.get(p)!);
        expect(resumed.logits).toEqual(whole);
        for (const [q, stream] of resumed.residuals) expect(stream).toEqual(first.residuals.get(q));
      }
    } finally {
      await runner.close();
    }
  });
});
