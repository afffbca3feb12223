import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cli-helpers.js';
import { Rng } from '../src/rng/rng.js';
import { parseTransformerConfig, weightShapes } from '../src/models/config.js';
import { loadTransformer, type Transformer, type Weights } from '../src/models/transformer.js';
import { transformerGraph, graphFeeds } from '../src/models/transformer-onnx.js';
import { TfjsTransformer } from '../src/models/transformer-tfjs.js';
import { createSession } from '../src/runtime/onnx.js';
import { initTensorflow } from '../src/runtime/tfjs.js';
import { CharTokenizer } from '../src/data/char-tokenizer.js';

// Max |logit| difference. Both backends compute in float32 with different reduction orders, and
// the logits are of order 10 (a float32 ulp there is ~1e-6): measured ~7e-6 for the reference model
// and ~4e-6 for the random Llama, so 1e-3 leaves a wide margin, while a real mistake (the wrong
// RoPE pairing, the wrong key/value head for a query head) shows up as differences of order 1.
const TOLERANCE = 1e-3;

const { tf } = await initTensorflow();

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a).toHaveLength(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** A small random Llama with grouped-query attention (4 query heads over 2 key/value heads) and its own lm_head. */
function randomLlama(seed: number): Transformer {
  const config = parseTransformerConfig(
    {
      model_type: 'llama', vocab_size: 53, max_position_embeddings: 64, hidden_size: 32, num_hidden_layers: 2,
      num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 48, tie_word_embeddings: false,
    },
    'config.json',
  );
  const rng = Rng.fromSeed(seed);
  const weights: Weights = new Map();
  for (const [name, shape] of weightShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const isGain = /norm\.weight$/.test(name);
    weights.set(name, Float32Array.from({ length: n }, () => (isGain ? 1 : 0) + 0.2 * rng.normal()));
  }
  return { config, weights };
}

/** A small random elastic GPT-2 student: heads and MLP width differ from block to block. */
function randomElastic(seed: number): Transformer {
  const config = parseTransformerConfig(
    { model_type: 'gpt2', vocab_size: 85, n_positions: 64, n_embd: 24, n_layer: 3, n_head: 1, n_inner: 16, n_head_per_layer: [1, 4, 2], n_inner_per_layer: [16, 48, 32] },
    'config.json',
  );
  const rng = Rng.fromSeed(seed);
  const weights: Weights = new Map();
  for (const [name, shape] of weightShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const isGain = /ln_(\d|f)\.weight$/.test(name);
    weights.set(name, Float32Array.from({ length: n }, () => (isGain ? 1 : 0) + 0.2 * rng.normal()));
  }
  return { config, weights };
}

const text =
  'We hold these truths to be self-evident, that all men are created equal, that they are endowed by their Creator with certain rights.';
const tokenizer = new CharTokenizer(JSON.parse(readFileSync(join(ROOT, 'models', 'reference-lm', 'tokenizer.json'), 'utf8')).symbols);

const cases: [string, () => { model: Transformer; tokens: number[]; zeroed: string }][] = [
  ['the reference model (GPT-2, 128 tokens of text)', () => {
    const model = loadTransformer(join(ROOT, 'models', 'reference-lm'));
    return { model, tokens: Array.from(tokenizer.encode(text).subarray(0, model.config.contextLength)), zeroed: 'h.1.mlp.c_proj.weight' };
  }],
  ['a random elastic GPT-2 student (heads and MLP width per block, 40 tokens)', () => {
    const model = randomElastic(3);
    return { model, tokens: Array.from(tokenizer.encode(text).subarray(0, 40)), zeroed: 'h.1.mlp.c_proj.weight' };
  }],
  ['a random Llama (grouped-query attention, untied head, 48 tokens)', () => {
    const model = randomLlama(7);
    const rng = Rng.fromSeed('tokens');
    return { model, tokens: Array.from({ length: 48 }, () => rng.int(0, model.config.vocabSize - 1)), zeroed: 'model.layers.0.mlp.down_proj.weight' };
  }],
];

describe.each(cases)('TensorFlow.js forward pass: %s', (_name, make) => {
  const { model, tokens, zeroed } = make();
  const { config, weights } = model;
  const tfjs = new TfjsTransformer(tf, config, weights);
  afterAll(() => tfjs.dispose());

  const ortLogits = async (w: Weights) => {
    const session = await createSession(transformerGraph(config, tokens.length, w, true));
    return (await session.run(graphFeeds(config, tokens, w, true))).logits.data as Float32Array;
  };

  it('gives the onnxruntime logits', async () => {
    expect(tokens.length).toBeGreaterThanOrEqual(32);
    const diff = maxAbsDiff(tfjs.logits(tokens), await ortLogits(weights));
    console.log(`${_name}: max |tfjs − onnxruntime| = ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(TOLERANCE);
  });

  it('setWeight changes the logits as swapping the same weight does on onnxruntime', async () => {
    const before = tfjs.logits(tokens);
    const zeros = new Float32Array(weights.get(zeroed)!.length);
    tfjs.setWeight(zeroed, zeros);
    const after = tfjs.logits(tokens);
    const diff = maxAbsDiff(after, await ortLogits(new Map(weights).set(zeroed, zeros)));
    console.log(`${_name}: with ${zeroed} zeroed, max |tfjs − onnxruntime| = ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(TOLERANCE);
    expect(maxAbsDiff(after, before)).toBeGreaterThan(100 * TOLERANCE); // the swap really changed something
    tfjs.setWeight(zeroed, weights.get(zeroed)!); // and restoring it restores the logits
    expect(maxAbsDiff(tfjs.logits(tokens), before)).toBe(0);
  });

  it('refuses a weight it does not have or of the wrong size', () => {
    expect(() => tfjs.setWeight('nope.weight', new Float32Array(1))).toThrow(/no weight "nope\.weight"/);
    expect(() => tfjs.setWeight(zeroed, new Float32Array(3))).toThrow(/needs \d+ values/);
  });
});
