/**
 * `npm run train:classifier`: trains the project's clothing classifier, a small CNN (six 3 × 3
 * convolutions with ReLU, 2 × 2 max pooling after the first two, global average pooling, a dense
 * layer to 10 classes), on the training split of Fashion-MNIST with TensorFlow.js, and saves it as
 * a LayersModel directory (model.json + weights) with training.json.
 * Options: --epochs N, --out DIR, --seed S.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { initTensorflow, trainingConv2dSame, trainingMatmul } from '../../runtime/tfjs.js';
import { loadPictures, PICTURE_SIZE, type Pictures } from '../../data/fashion.js';
import { saveLayersModel } from '../../models/layers-model.js';
import { Rng } from '../../rng/rng.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const { values: args } = parseArgs({
  options: {
    epochs: { type: 'string', default: '3' },
    out: { type: 'string', default: join(ROOT, 'models', 'fashion-cnn') },
    seed: { type: 'string', default: '1' },
  },
});
const BATCH = 64;

const { tf, backend } = await initTensorflow();
type Tensor = ReturnType<typeof tf.tensor>;
const train = loadPictures('train');
const calibration = loadPictures('calibration');
const heldOut = loadPictures('heldOut');
const rng = Rng.fromSeed(Number(args.seed));

/** The network, in order: 'same' 3 × 3 convolutions (optionally followed by 2 × 2 max pooling), then the output layer. */
const CONVS: { name: string; filters: number; pool: boolean }[] = [
  { name: 'conv1', filters: 16, pool: true },
  { name: 'conv2', filters: 32, pool: true },
  { name: 'conv3', filters: 32, pool: false },
  { name: 'conv4', filters: 32, pool: false },
  { name: 'conv5', filters: 32, pool: false },
  { name: 'conv6', filters: 32, pool: false },
];
const CLASSES = 10;

// Kernels as Keras stores them: conv [3, 3, cin, cout], dense [in, out].
const shapes: [string, number[]][] = [];
CONVS.forEach((c, i) => shapes.push([c.name, [3, 3, i === 0 ? 1 : CONVS[i - 1].filters, c.filters]]));
shapes.push(['logits', [CONVS[CONVS.length - 1].filters, CLASSES]]);
const params = new Map<string, { kernel: ReturnType<typeof tf.variable>; bias: ReturnType<typeof tf.variable> }>();
for (const [name, shape] of shapes) {
  const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const n = fanIn * shape[shape.length - 1];
  const kernel = Float32Array.from({ length: n }, () => rng.normal() * Math.sqrt(2 / fanIn)); // He initialisation
  params.set(name, { kernel: tf.variable(tf.tensor(kernel, shape)), bias: tf.variable(tf.zeros([shape[shape.length - 1]])) });
}

/** A 'same' 3 × 3 convolution with ReLU, through the convolution whose filter gradient wasm lacks. */
function conv(x: Tensor, name: string): Tensor {
  const { kernel, bias } = params.get(name)!;
  return trainingConv2dSame(x as never, kernel as never).add(bias).relu();
}

function logits(images: Tensor): Tensor {
  let x = images.reshape([-1, 28, 28, 1]);
  for (const c of CONVS) {
    x = conv(x, c.name);
    if (c.pool) x = tf.maxPool(x as never, 2, 2, 'valid');
  }
  const { kernel, bias } = params.get('logits')!;
  return trainingMatmul(x.mean([1, 2]), kernel).add(bias);
}

const epochs = Number(args.epochs);
const batchesPerEpoch = Math.floor(train.count / BATCH);
// Cosine decay to a tenth: a few epochs of Adam settle better with a falling rate.
const rate = (step: number) => 2e-3 * (0.1 + 0.9 * 0.5 * (1 + Math.cos((Math.PI * step) / (epochs * batchesPerEpoch))));
const optimizer = tf.train.adam(rate(0));
const started = Date.now();
const losses: number[] = [];
for (let epoch = 0; epoch < epochs; epoch++) {
  const order = Array.from({ length: train.count }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  let total = 0;
  for (let b = 0; b < batchesPerEpoch; b++) {
    (optimizer as unknown as { learningRate: number }).learningRate = rate(epoch * batchesPerEpoch + b);
    const ids = order.slice(b * BATCH, (b + 1) * BATCH);
    const x = new Float32Array(BATCH * PICTURE_SIZE);
    ids.forEach((d, k) => x.set(train.images.subarray(d * PICTURE_SIZE, (d + 1) * PICTURE_SIZE), k * PICTURE_SIZE));
    const y = Int32Array.from(ids, (d) => train.labels[d]);
    const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(y, 'int32'), CLASSES), logits(tf.tensor2d(x, [BATCH, PICTURE_SIZE]))) as never, true)!;
    total += loss.dataSync()[0];
    loss.dispose();
    if (b % 200 === 199) console.log(`epoch ${epoch + 1} batch ${b + 1}/${batchesPerEpoch}: loss ${(total / (b + 1)).toFixed(4)}, ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  losses.push(total / batchesPerEpoch);
  console.log(`epoch ${epoch + 1}: loss ${losses[losses.length - 1].toFixed(4)}, ${((Date.now() - started) / 1000).toFixed(0)} s`);
}
const seconds = (Date.now() - started) / 1000;

// The same network as Keras layers, holding the trained weights: what evosearch (and any tfjs user) loads.
const layers: ReturnType<typeof tf.layers.dense | typeof tf.layers.conv2d | typeof tf.layers.maxPooling2d | typeof tf.layers.globalAveragePooling2d>[] = [];
CONVS.forEach((c, i) => {
  layers.push(tf.layers.conv2d({ name: c.name, filters: c.filters, kernelSize: 3, padding: 'same', activation: 'relu', ...(i === 0 ? { inputShape: [28, 28, 1] } : {}) }));
  if (c.pool) layers.push(tf.layers.maxPooling2d({ name: `pool${i + 1}`, poolSize: 2 }));
});
layers.push(tf.layers.globalAveragePooling2d({ name: 'gap' }), tf.layers.dense({ name: 'logits', units: CLASSES }));
const model = tf.sequential({ layers });
for (const [name] of shapes) model.getLayer(name).setWeights([params.get(name)!.kernel, params.get(name)!.bias]);

const accuracy = (d: Pictures) => {
  let correct = 0;
  for (let from = 0; from < d.count; from += 1000) {
    const n = Math.min(1000, d.count - from);
    const predicted = tf.tidy(() => (model.predict(tf.tensor4d(d.images.subarray(from * PICTURE_SIZE, (from + n) * PICTURE_SIZE), [n, 28, 28, 1])) as Tensor).argMax(-1).dataSync());
    predicted.forEach((p, i) => (correct += p === d.labels[from + i] ? 1 : 0));
  }
  return correct / d.count;
};
// The Keras layers must compute what was trained.
const sample = heldOut.images.subarray(0, 64 * PICTURE_SIZE);
const difference = tf.tidy(() => tf.sub(model.predict(tf.tensor4d(sample, [64, 28, 28, 1])) as Tensor, logits(tf.tensor2d(sample, [64, PICTURE_SIZE]))).abs().max().dataSync()[0]);
if (difference > 1e-3) throw new Error(`the Keras model differs from the trained network by ${difference}`);
const result = {
  dataset: 'Fashion-MNIST (Debian dataset-fashion-mnist)',
  backend,
  parameters: model.countParams(),
  epochs,
  batch: BATCH,
  seconds,
  loss: losses,
  trainAccuracy: accuracy(train),
  calibrationAccuracy: accuracy(calibration),
  heldOutAccuracy: accuracy(heldOut),
};
console.log(`trained in ${seconds.toFixed(0)} s on ${backend}: train ${result.trainAccuracy.toFixed(4)}, calibration ${result.calibrationAccuracy.toFixed(4)}, held-out ${result.heldOutAccuracy.toFixed(4)}`);

const out = args.out;
await saveLayersModel(tf, model, out);
writeFileSync(join(out, 'training.json'), JSON.stringify(result, null, 2) + '\n');
console.log(`wrote ${out}`);
