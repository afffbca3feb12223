/**
 * `npm run train:reference`: trains the project's reference language model, a small GPT-2-style
 * character model, on the State of the Union addresses before 2011 with TensorFlow.js, and writes
 * it as a Hugging Face–style directory (config.json, model.safetensors, tokenizer.json) plus
 * training.json (what was measured). Options: --steps N, --minutes M (stop early), --out DIR.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { initTensorflow, trainingMatmul } from '../../runtime/tfjs.js';
import { loadAddresses, splitByYear, corpusHash, HELD_OUT_FROM } from '../../data/corpus.js';
import { CharTokenizer } from '../../data/char-tokenizer.js';
import { evaluationWindows } from '../../data/windows.js';
import { Rng } from '../../rng/rng.js';
import { parseTransformerConfig, weightShapes } from '../../models/config.js';
import { writeSafetensors } from '../../models/safetensors.js';
import { causalMask } from '../../models/transformer.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '600' },
    minutes: { type: 'string', default: '40' },
    out: { type: 'string', default: join(ROOT, 'models', 'reference-lm') },
    seed: { type: 'string', default: '1' },
  },
});
const STEPS = Number(args.steps);
const DEADLINE = Date.now() + Number(args.minutes) * 60_000;
const [T, D, LAYERS, HEADS, FF, BATCH, LR] = [128, 160, 4, 4, 640, 16, 2e-3];
const HELD_OUT_WINDOWS = 64;

const { tf, backend } = await initTensorflow();
const { train, heldOut } = splitByYear(loadAddresses());
const tokenizer = CharTokenizer.fit(train.map((a) => a.text));
const encode = (texts: string[]) => tokenizer.encode(texts.join('\n\n'));
const trainIds = encode(train.map((a) => a.text));
const heldOutIds = encode(heldOut.map((a) => a.text));
const V = tokenizer.vocabSize;
const hfConfig = { model_type: 'gpt2', vocab_size: V, n_positions: T, n_embd: D, n_layer: LAYERS, n_head: HEADS, n_inner: FF, layer_norm_epsilon: 1e-5 };
const config = parseTransformerConfig(hfConfig, 'reference-lm/config.json');
const rng = Rng.fromSeed(Number(args.seed));
console.log(`backend ${backend}; ${trainIds.length} training and ${heldOutIds.length} held-out characters; vocabulary ${V}`);

// Parameters under Hugging Face GPT-2 names and layouts, initialised as GPT-2 does.
const params = new Map<string, ReturnType<typeof tf.variable>>();
for (const [name, shape] of weightShapes(config)) {
  const n = shape.reduce((a, b) => a * b, 1);
  const isGain = /ln_\d\.weight$|ln_f\.weight$/.test(name);
  const isBias = name.endsWith('.bias');
  const std = name.endsWith('c_proj.weight') ? 0.02 / Math.sqrt(2 * LAYERS) : 0.02;
  const values = Float32Array.from({ length: n }, () => (isGain ? 1 : isBias ? 0 : std * rng.normal()));
  params.set(name, tf.variable(tf.tensor(values, shape), true, name));
}
const p = (name: string) => params.get(name)!;
const parameterCount = [...weightShapes(config).values()].reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);
console.log(`${parameterCount} parameters`);

const mask = tf.tensor2d(causalMask(T), [T, T]);

type Tensor = ReturnType<typeof tf.tensor>;

/** Swaps the last two axes. */
const transposeLast = (x: Tensor) => x.transpose(x.rank === 2 ? [1, 0] : [0, 1, 3, 2]);
const matmul = trainingMatmul;

function layerNorm(x: Tensor, prefix: string) {
  const { mean, variance } = tf.moments(x, -1, true);
  return x.sub(mean).div(variance.add(1e-5).sqrt()).mul(p(`${prefix}.weight`)).add(p(`${prefix}.bias`));
}

/** The same GPT-2 block as src/models/transformer.ts, batched; the embedding is a one-hot matmul (wasm lacks gather's gradient). */
function logits(ids: Int32Array, batch: number) {
  const oneHot = tf.oneHot(tf.tensor1d(ids, 'int32'), V).toFloat();
  let x = matmul(oneHot, p('wte.weight')).reshape([batch, T, D]).add(p('wpe.weight')).reshape([batch * T, D]);
  const hd = D / HEADS;
  for (let i = 0; i < LAYERS; i++) {
    const h = layerNorm(x, `h.${i}.ln_1`);
    const qkv = matmul(h, p(`h.${i}.attn.c_attn.weight`)).add(p(`h.${i}.attn.c_attn.bias`));
    const [q, k, v] = tf.split(qkv.reshape([batch, T, 3 * HEADS, hd]).transpose([0, 2, 1, 3]), 3, 1);
    const scores = matmul(q, transposeLast(k)).mul(1 / Math.sqrt(hd)).add(mask);
    const attended = matmul(tf.softmax(scores), v).transpose([0, 2, 1, 3]).reshape([batch * T, D]);
    x = x.add(matmul(attended, p(`h.${i}.attn.c_proj.weight`)).add(p(`h.${i}.attn.c_proj.bias`)));
    const f = matmul(layerNorm(x, `h.${i}.ln_2`), p(`h.${i}.mlp.c_fc.weight`)).add(p(`h.${i}.mlp.c_fc.bias`));
    const gelu = f.mul(0.5).mul(f.add(f.mul(f).mul(f).mul(0.044715)).mul(Math.sqrt(2 / Math.PI)).tanh().add(1));
    x = x.add(matmul(gelu, p(`h.${i}.mlp.c_proj.weight`)).add(p(`h.${i}.mlp.c_proj.bias`)));
  }
  return matmul(layerNorm(x, 'ln_f'), transposeLast(p('wte.weight')));
}

/** Mean next-character cross-entropy (nats) of windows starting at `starts`. */
function loss(source: Uint16Array, starts: number[]) {
  const ids = new Int32Array(starts.length * T);
  const labels = new Int32Array(starts.length * T);
  starts.forEach((s, b) => {
    for (let t = 0; t < T; t++) {
      ids[b * T + t] = source[s + t];
      labels[b * T + t] = source[s + t + 1];
    }
  });
  return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(labels, 'int32'), V), logits(ids, starts.length));
}

function heldOutNll(): number {
  const starts = evaluationWindows(heldOutIds.length, T, HELD_OUT_WINDOWS);
  let total = 0;
  for (let i = 0; i < starts.length; i += BATCH) total += tf.tidy(() => loss(heldOutIds, starts.slice(i, i + BATCH)).dataSync()[0]) * Math.min(BATCH, starts.length - i);
  return total / starts.length;
}

const optimizer = tf.train.adam(LR);
const started = Date.now();
const curve: { step: number; trainLoss: number; heldOutNll?: number; seconds: number }[] = [];
let step = 0;
let running = NaN;
for (; step < STEPS && Date.now() < DEADLINE; step++) {
  const starts = Array.from({ length: BATCH }, () => rng.int(0, trainIds.length - T - 2));
  const value = optimizer.minimize(() => loss(trainIds, starts) as never, true)!;
  const l = value.dataSync()[0];
  value.dispose();
  running = Number.isNaN(running) ? l : 0.95 * running + 0.05 * l;
  if ((step + 1) % 50 === 0) {
    const point = { step: step + 1, trainLoss: running, seconds: (Date.now() - started) / 1000, heldOutNll: undefined as number | undefined };
    if ((step + 1) % 200 === 0) point.heldOutNll = heldOutNll();
    curve.push(point);
    console.log(`step ${point.step}: train loss ${running.toFixed(3)}${point.heldOutNll ? `, held-out ${point.heldOutNll.toFixed(3)} nats (ppl ${Math.exp(point.heldOutNll).toFixed(2)})` : ''}, ${point.seconds.toFixed(0)} s`);
  }
}
const nll = heldOutNll();
const seconds = (Date.now() - started) / 1000;
console.log(`trained ${step} steps in ${seconds.toFixed(0)} s; held-out ${nll.toFixed(3)} nats per character, perplexity ${Math.exp(nll).toFixed(2)}`);

const out = args.out;
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'config.json'), JSON.stringify(hfConfig, null, 2) + '\n');
writeFileSync(join(out, 'tokenizer.json'), JSON.stringify(tokenizer.toJSON()) + '\n');
const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
for (const [name, shape] of weightShapes(config)) tensors[name] = { shape, data: p(name).dataSync() as Float32Array };
writeSafetensors(join(out, 'model.safetensors'), tensors, { format: 'pt' });
writeFileSync(
  join(out, 'training.json'),
  JSON.stringify(
    {
      backend,
      parameters: parameterCount,
      steps: step,
      batch: BATCH,
      context: T,
      learningRate: LR,
      seconds,
      heldOut: { fromYear: HELD_OUT_FROM, nllPerChar: nll, perplexity: Math.exp(nll), windows: HELD_OUT_WINDOWS },
      trainCorpusSha256: corpusHash(train),
      heldOutCorpusSha256: corpusHash(heldOut),
      curve,
    },
    null,
    2,
  ) + '\n',
);
console.log(`wrote ${out}`);
