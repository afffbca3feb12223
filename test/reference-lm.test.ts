import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cli-helpers.js';
import { loadTransformer, forward } from '../src/models/transformer.js';
import { transformerGraph, graphFeeds } from '../src/models/transformer-onnx.js';
import { createSession } from '../src/runtime/onnx.js';
import { CharTokenizer } from '../src/data/char-tokenizer.js';
import { loadAddresses, splitByYear, corpusHash } from '../src/data/corpus.js';
import { evaluationWindows, meanNll } from '../src/data/windows.js';

const dir = join(ROOT, 'models', 'reference-lm');

describe('the checked-in reference language model', () => {
  const model = loadTransformer(dir);
  const training = JSON.parse(readFileSync(join(dir, 'training.json'), 'utf8'));
  const tokenizer = new CharTokenizer(JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')).symbols);
  const { train, heldOut } = splitByYear(loadAddresses());
  const heldOutIds = tokenizer.encode(heldOut.map((a) => a.text).join('\n\n'));
  const T = model.config.contextLength;

  it('is a 1–5M parameter, 4-block GPT-2 trained on the pre-2011 addresses', () => {
    const parameters = [...model.weights.values()].reduce((s, w) => s + w.length, 0);
    expect(parameters).toBe(training.parameters);
    expect(parameters).toBeGreaterThan(1_000_000);
    expect(parameters).toBeLessThan(5_000_000);
    expect(model.config.nLayers).toBeGreaterThanOrEqual(4);
    expect(training.trainCorpusSha256).toBe(corpusHash(train));
    expect(training.heldOutCorpusSha256).toBe(corpusHash(heldOut));
  });

  it('onnxruntime reproduces the held-out perplexity that training measured with TensorFlow.js', async () => {
    const session = await createSession(transformerGraph(model.config, T, model.weights, false));
    const starts = evaluationWindows(heldOutIds.length, T, training.heldOut.windows);
    let total = 0;
    for (const s of starts) {
      const logits = (await session.run(graphFeeds(model.config, heldOutIds.subarray(s, s + T), model.weights, false))).logits.data as Float32Array;
      total += meanNll(logits, heldOutIds.subarray(s + 1, s + T + 1), model.config.vocabSize);
    }
    const nll = total / starts.length;
    expect(nll).toBeCloseTo(training.heldOut.nllPerChar, 3);
    // Far better than a uniform guess over the vocabulary (ln 85 ≈ 4.44 nats).
    expect(nll).toBeLessThan(Math.log(model.config.vocabSize) - 1.5);
  });

  it('the TypeScript reference forward pass agrees with onnxruntime on real text', async () => {
    const session = await createSession(transformerGraph(model.config, T, model.weights, true));
    const window = heldOutIds.subarray(0, T);
    const onnx = (await session.run(graphFeeds(model.config, window, model.weights, true))).logits.data as Float32Array;
    const reference = forward(model, window);
    let worst = 0;
    for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(onnx[i] - reference[i]));
    expect(worst).toBeLessThan(1e-3);
  });
});
