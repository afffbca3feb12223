/**
 * `npm run train:reference`: trains the project's reference language model, a small GPT-2-style
 * character model, on the State of the Union addresses before 2011 with TensorFlow.js, and writes
 * it as a Hugging Face–style directory (config.json, model.safetensors, tokenizer.json) plus
 * training.json (what was measured).
 *
 * Options: --steps N (the schedule's length), --minutes M (stop this invocation early; a checkpoint
 * lets a later one go on), --out DIR, --seed S, --checkpoint DIR, --resume (insist on a checkpoint),
 * --fresh (discard one). A run resumes by itself when its checkpoint directory holds a checkpoint:
 * weights, Adam moments, step, the data RNG and the curve, written every --checkpoint-minutes
 * atomically (temp file, then rename), so that even kill -9 loses at most those minutes.
 * The optimisation settings (--lr, --min-lr, --warmup, --beta2, --clip, --weight-decay, --batch)
 * and the shape (--width, --layers, --heads, --ff) are options so that variants can be compared
 * with short runs; a resumed run takes them from its checkpoint. --tf-adam swaps in tf.train.adam
 * (whose moments cannot be checkpointed) to compare it with the optimiser here.
 */
import { existsSync, writeFileSync, rmSync, openSync, fsyncSync, closeSync, readdirSync } from 'node:fs';
import { makeDirectories, writeFileAtomically } from '../../files.js';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { initTensorflow } from '../../runtime/tfjs.js';
import { loadAddresses, splitByYear, corpusHash, HELD_OUT_FROM } from '../../data/corpus.js';
import { CharTokenizer } from '../../data/char-tokenizer.js';
import { evaluationWindows } from '../../data/windows.js';
import { Rng, type RngState } from '../../rng/rng.js';
import { parseTransformerConfig, weightShapes } from '../../models/config.js';
import { readSafetensors, writeSafetensors, float32 } from '../../models/safetensors.js';
import { trainableGpt2, initParams } from '../../models/gpt2-training.js';
import { Adam, warmupCosine } from '../../models/adam.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '2100' },
    minutes: { type: 'string', default: '240' },
    out: { type: 'string', default: join(ROOT, 'models', 'reference-lm') },
    seed: { type: 'string', default: '1' },
    checkpoint: { type: 'string', default: join(ROOT, 'checkpoints', 'reference-lm') },
    'checkpoint-minutes': { type: 'string', default: '3' },
    resume: { type: 'boolean', default: false },
    fresh: { type: 'boolean', default: false },
    'eval-every': { type: 'string', default: '250' },
    'log-every': { type: 'string', default: '25' },
    lr: { type: 'string', default: '2e-3' },
    'min-lr': { type: 'string', default: '2e-4' },
    warmup: { type: 'string', default: '100' },
    beta2: { type: 'string', default: '0.99' },
    clip: { type: 'string', default: '1' },
    'weight-decay': { type: 'string', default: '0.1' },
    batch: { type: 'string', default: '16' },
    width: { type: 'string', default: '160' },
    layers: { type: 'string', default: '4' },
    heads: { type: 'string', default: '4' },
    ff: { type: 'string', default: '' },
    // Diagnosis only: tf.train.adam as the old script used it (its state cannot be checkpointed).
    'tf-adam': { type: 'boolean', default: false },
  },
});

/** Everything that fixes what a run computes; a checkpoint carries it, so a resumed run cannot drift. */
interface Settings {
  steps: number;
  seed: string;
  lr: number;
  minLr: number;
  warmup: number;
  beta1: number;
  beta2: number;
  clip: number;
  weightDecay: number;
  batch: number;
  context: number;
  width: number;
  layers: number;
  heads: number;
  ff: number;
}

interface CurvePoint {
  step: number;
  trainLoss: number;
  lr: number;
  gradNorm: number;
  seconds: number;
  tokens: number;
  heldOutNll?: number;
}

interface CheckpointState {
  version: 1;
  settings: Settings;
  step: number;
  rng: RngState;
  seconds: number;
  running: number;
  curve: CurvePoint[];
}

const HELD_OUT_WINDOWS = 64;
const EVAL_BATCH = 16;
const CHECKPOINT_FILE = 'checkpoint.safetensors';
const ckptDir = resolve(args.checkpoint);
const ckptPath = join(ckptDir, CHECKPOINT_FILE);
if (args.fresh) rmSync(ckptPath, { force: true });
if (args.resume && !existsSync(ckptPath)) {
  console.error(`--resume: no checkpoint at ${ckptPath}`);
  process.exit(1);
}
// A run killed while writing leaves its temp file behind; the checkpoint itself is whole either way.
if (existsSync(ckptDir)) for (const f of readdirSync(ckptDir)) if (f.startsWith(`${CHECKPOINT_FILE}.partial-`)) rmSync(join(ckptDir, f));
const saved = existsSync(ckptPath) ? readSafetensors(ckptPath) : undefined;
const resumed = saved ? (JSON.parse(saved.metadata.state) as CheckpointState) : undefined;

const width = Number(args.width);
const settings: Settings = resumed?.settings ?? {
  steps: Number(args.steps),
  seed: args.seed,
  lr: Number(args.lr),
  minLr: Number(args['min-lr']),
  warmup: Number(args.warmup),
  beta1: 0.9,
  beta2: Number(args.beta2),
  clip: Number(args.clip),
  weightDecay: Number(args['weight-decay']),
  batch: Number(args.batch),
  context: 128,
  width,
  layers: Number(args.layers),
  heads: Number(args.heads),
  ff: args.ff ? Number(args.ff) : 4 * width,
};
const { steps: STEPS, batch: BATCH, context: T } = settings;
const DEADLINE = Date.now() + Number(args.minutes) * 60_000;

const { tf, backend } = await initTensorflow();
const { train, heldOut } = splitByYear(loadAddresses());
const tokenizer = CharTokenizer.fit(train.map((a) => a.text));
const encode = (texts: string[]) => tokenizer.encode(texts.join('\n\n'));
const trainIds = encode(train.map((a) => a.text));
const heldOutIds = encode(heldOut.map((a) => a.text));
const V = tokenizer.vocabSize;
const hfConfig = {
  model_type: 'gpt2',
  vocab_size: V,
  n_positions: T,
  n_embd: settings.width,
  n_layer: settings.layers,
  n_head: settings.heads,
  n_inner: settings.ff,
  layer_norm_epsilon: 1e-5,
};
const config = parseTransformerConfig(hfConfig, 'reference-lm/config.json');
const shapes = weightShapes(config);
const parameterCount = [...shapes.values()].reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);

// One generator initialises the weights and then draws the training windows, as the first version of
// this script did: with the same seed, a run sees the same initial weights and the same batches as
// that one, so their curves compare settings alone. A checkpoint stores its state.
let rng = Rng.fromSeed(settings.seed);
const params = initParams(tf, config, () => rng.normal());
const adam = new Adam(tf, params, { beta1: settings.beta1, beta2: settings.beta2, epsilon: 1e-8, weightDecay: settings.weightDecay, clip: settings.clip });
let step = 0;
let secondsBefore = 0;
let running = NaN;
const curve: CurvePoint[] = [];
if (saved && resumed) {
  for (const [name, shape] of shapes) {
    params.get(name)!.assign(tf.tensor(float32(saved, name, shape, ckptPath), shape));
    adam.m.get(name)!.assign(tf.tensor(float32(saved, `adam.m.${name}`, shape, ckptPath), shape));
    adam.v.get(name)!.assign(tf.tensor(float32(saved, `adam.v.${name}`, shape, ckptPath), shape));
  }
  rng = Rng.fromState(resumed.rng);
  step = resumed.step;
  secondsBefore = resumed.seconds;
  running = resumed.running;
  curve.push(...resumed.curve);
}
const model = trainableGpt2(tf, config, params);

console.log(`backend ${backend}; ${trainIds.length} training and ${heldOutIds.length} held-out characters; vocabulary ${V}`);
console.log(`${parameterCount} parameters; settings ${JSON.stringify(settings)}`);
if (resumed) console.log(`resumed from ${ckptPath} at step ${step} (${secondsBefore.toFixed(0)} s trained before)`);

/** Linear warm-up, then cosine decay to minLr at the last step. */
const learningRate = (t: number) => warmupCosine(t, STEPS, settings.warmup, settings.lr, settings.minLr);

function heldOutNll(): number {
  const starts = evaluationWindows(heldOutIds.length, T, HELD_OUT_WINDOWS);
  let total = 0;
  for (let i = 0; i < starts.length; i += EVAL_BATCH) {
    const batch = starts.slice(i, i + EVAL_BATCH);
    total += tf.tidy(() => model.loss(heldOutIds, batch).dataSync()[0]) * batch.length;
  }
  return total / starts.length;
}

function writeCheckpoint(): void {
  makeDirectories(ckptDir);
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, shape] of shapes) {
    tensors[name] = { shape, data: params.get(name)!.dataSync() as Float32Array };
    tensors[`adam.m.${name}`] = { shape, data: adam.m.get(name)!.dataSync() as Float32Array };
    tensors[`adam.v.${name}`] = { shape, data: adam.v.get(name)!.dataSync() as Float32Array };
  }
  const state: CheckpointState = { version: 1, settings, step, rng: rng.state(), seconds: elapsed(), running, curve };
  // One file, renamed over the old one once on disk: a kill at any moment leaves the old checkpoint or the new, whole.
  writeFileAtomically(ckptPath, (temporary) => {
    writeSafetensors(temporary, tensors, { state: JSON.stringify(state) });
    const fd = openSync(temporary, 'r+');
    fsyncSync(fd);
    closeSync(fd);
  });
}

const started = Date.now();
const elapsed = () => secondsBefore + (Date.now() - started) / 1000;
const tokensPerStep = BATCH * T;
let stop = false;
process.on('SIGINT', () => {
  console.log('interrupted: checkpointing after this step');
  stop = true;
});
let lastCheckpoint = Date.now();
let windowStart = Date.now();
let windowSteps = 0;
const varList = [...params.values()];
const tfAdam = args['tf-adam'] ? tf.train.adam(settings.lr) : undefined;
for (; step < STEPS && Date.now() < DEADLINE && !stop; ) {
  const starts = Array.from({ length: BATCH }, () => rng.int(0, trainIds.length - T - 2));
  const lr = learningRate(step);
  let l: number;
  let gradNorm = NaN;
  if (tfAdam) {
    const value = tfAdam.minimize(() => model.loss(trainIds, starts) as never, true, varList)!;
    l = value.dataSync()[0];
    value.dispose();
  } else {
    const { value, grads } = tf.variableGrads(() => model.loss(trainIds, starts) as never, varList);
    l = value.dataSync()[0];
    gradNorm = adam.apply(grads, step + 1, lr);
    value.dispose();
    tf.dispose(grads);
  }
  step++;
  windowSteps++;
  running = Number.isNaN(running) ? l : 0.95 * running + 0.05 * l;
  const evalNow = step % Number(args['eval-every']) === 0;
  if (step % Number(args['log-every']) === 0 || evalNow) {
    const point: CurvePoint = { step, trainLoss: running, lr, gradNorm, seconds: elapsed(), tokens: step * tokensPerStep };
    const rate = (windowSteps * tokensPerStep) / ((Date.now() - windowStart) / 1000);
    windowStart = Date.now();
    windowSteps = 0;
    if (evalNow) point.heldOutNll = heldOutNll();
    curve.push(point);
    const eta = ((STEPS - step) * tokensPerStep) / rate;
    const held = point.heldOutNll === undefined ? '' : `, held-out ${point.heldOutNll.toFixed(3)} nats (ppl ${Math.exp(point.heldOutNll).toFixed(2)})`;
    console.log(
      `step ${step}/${STEPS}: train loss ${running.toFixed(3)}${held}, lr ${lr.toExponential(2)}, grad norm ${gradNorm.toFixed(2)}, ` +
        `${rate.toFixed(0)} tokens/s, ${point.seconds.toFixed(0)} s, ETA ${(eta / 60).toFixed(1)} min`,
    );
  }
  if (Date.now() - lastCheckpoint > Number(args['checkpoint-minutes']) * 60_000) {
    writeCheckpoint();
    lastCheckpoint = Date.now();
    console.log(`checkpoint at step ${step}`);
  }
}
writeCheckpoint();
if (step < STEPS) {
  console.log(`stopped at step ${step} of ${STEPS} (${stop ? 'interrupted' : '--minutes reached'}); checkpoint in ${ckptDir}: run again to go on`);
  process.exit(0);
}

const nll = heldOutNll();
const seconds = elapsed();
console.log(`trained ${step} steps (${step * tokensPerStep} tokens) in ${seconds.toFixed(0)} s; held-out ${nll.toFixed(3)} nats per character, perplexity ${Math.exp(nll).toFixed(2)}`);

const out = args.out;
makeDirectories(out);
writeFileSync(join(out, 'config.json'), JSON.stringify(hfConfig, null, 2) + '\n');
writeFileSync(join(out, 'tokenizer.json'), JSON.stringify(tokenizer.toJSON()) + '\n');
const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
for (const [name, shape] of shapes) tensors[name] = { shape, data: params.get(name)!.dataSync() as Float32Array };
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
      tokens: step * tokensPerStep,
      learningRate: settings.lr,
      settings,
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
