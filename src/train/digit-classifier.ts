/**
 * `npm run train:classifier`: trains the project's digit classifier, a small CNN (three 3 × 3
 * convolutions with ReLU, 2 × 2 max pooling after the first two, global average pooling, a dense
 * layer to 10 classes), on the training split of the `mnist` package's digits with TensorFlow.js,
 * and saves it as a LayersModel directory (model.json + weights) with training.json.
 * Options: --epochs N, --out DIR, --seed S.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { initTensorflow, trainingMatmul } from '../runtime/tfjs.js';
import { loadDigits, type Digits } from '../data/digits.js';
import { im2col } from '../models/im2col.js';
import { Rng } from '../rng/rng.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const { values: args } = parseArgs({
  options: {
    epochs: { type: 'string', default: '8' },
    out: { type: 'string', default: join(ROOT, 'models', 'digit-cnn') },
    seed: { type: 'string', default: '1' },
  },
});
const BATCH = 64;

const { tf, backend } = await initTensorflow();
type Tensor = ReturnType<typeof tf.tensor>;
const train = loadDigits('train');
const heldOut = loadDigits('heldOut');
const rng = Rng.fromSeed(Number(args.seed));

// Layer shapes as Keras stores them: conv kernels [3, 3, cin, cout], dense [in, out].
const shapes: [string, number[]][] = [
  ['conv1', [3, 3, 1, 16]],
  ['conv2', [3, 3, 16, 32]],
  ['conv3', [3, 3, 32, 32]],
  ['logits', [32, 10]],
];
const params = new Map<string, { kernel: ReturnType<typeof tf.variable>; bias: ReturnType<typeof tf.variable> }>();
for (const [name, shape] of shapes) {
  const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const n = fanIn * shape[shape.length - 1];
  const kernel = Float32Array.from({ length: n }, () => rng.normal() * Math.sqrt(2 / fanIn)); // He initialisation
  params.set(name, { kernel: tf.variable(tf.tensor(kernel, shape)), bias: tf.variable(tf.zeros([shape[shape.length - 1]])) });
}

const matmul = trainingMatmul;

/** A 'same' 3 × 3 convolution as im2col and one product: wasm has no convolution filter gradient. */
function conv(x: Tensor, name: string): Tensor {
  const { kernel, bias } = params.get(name)!;
  const [, , cin, cout] = kernel.shape;
  const [b, h, w] = x.shape;
  return matmul(im2col(tf, x as never, 3, 3, 'same'), kernel.reshape([9 * cin, cout])).add(bias).reshape([b, h, w, cout]).relu();
}

function logits(images: Tensor): Tensor {
  let x = images.reshape([-1, 28, 28, 1]);
  x = tf.maxPool(conv(x, 'conv1') as never, 2, 2, 'valid');
  x = tf.maxPool(conv(x, 'conv2') as never, 2, 2, 'valid');
  x = conv(x, 'conv3').mean([1, 2]);
  const { kernel, bias } = params.get('logits')!;
  return matmul(x, kernel).add(bias);
}

const optimizer = tf.train.adam(2e-3);
const started = Date.now();
const losses: number[] = [];
for (let epoch = 0; epoch < Number(args.epochs); epoch++) {
  const order = Array.from({ length: train.count }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  let total = 0;
  for (let start = 0; start + BATCH <= order.length; start += BATCH) {
    const ids = order.slice(start, start + BATCH);
    const x = new Float32Array(BATCH * 784);
    ids.forEach((d, k) => x.set(train.images.subarray(d * 784, (d + 1) * 784), k * 784));
    const y = Int32Array.from(ids, (d) => train.labels[d]);
    const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(y, 'int32'), 10), logits(tf.tensor2d(x, [BATCH, 784]))) as never, true)!;
    total += loss.dataSync()[0];
    loss.dispose();
  }
  losses.push(total / Math.floor(order.length / BATCH));
  console.log(`epoch ${epoch + 1}: loss ${losses[losses.length - 1].toFixed(4)}, ${((Date.now() - started) / 1000).toFixed(0)} s`);
}
const seconds = (Date.now() - started) / 1000;

// The same network as Keras layers, holding the trained weights: what evosearch (and any tfjs user) loads.
const model = tf.sequential({
  layers: [
    tf.layers.conv2d({ name: 'conv1', inputShape: [28, 28, 1], filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' }),
    tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2 }),
    tf.layers.conv2d({ name: 'conv2', filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
    tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2 }),
    tf.layers.conv2d({ name: 'conv3', filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
    tf.layers.globalAveragePooling2d({ name: 'gap' }),
    tf.layers.dense({ name: 'logits', units: 10 }),
  ],
});
for (const [name] of shapes) model.getLayer(name).setWeights([params.get(name)!.kernel, params.get(name)!.bias]);

const accuracy = (d: Digits) =>
  tf.tidy(() => {
    const predicted = (model.predict(tf.tensor4d(d.images, [d.count, 28, 28, 1])) as Tensor).argMax(-1).dataSync();
    return Array.from(predicted).reduce((s, p, i) => s + (p === d.labels[i] ? 1 : 0), 0) / d.count;
  });
// The Keras layers must compute what was trained.
const agreement = tf.tidy(() => tf.sub(model.predict(tf.tensor4d(heldOut.images.subarray(0, 64 * 784), [64, 28, 28, 1])) as Tensor, logits(tf.tensor2d(heldOut.images.subarray(0, 64 * 784), [64, 784]))).abs().max().dataSync()[0]);
if (agreement > 1e-3) throw new Error(`the Keras model differs from the trained network by ${agreement}`);
const result = { backend, parameters: model.countParams(), epochs: Number(args.epochs), batch: BATCH, seconds, loss: losses, trainAccuracy: accuracy(train), heldOutAccuracy: accuracy(heldOut) };
console.log(`trained in ${seconds.toFixed(0)} s on ${backend}: train accuracy ${result.trainAccuracy.toFixed(4)}, held-out ${result.heldOutAccuracy.toFixed(4)}`);

const out = args.out;
mkdirSync(out, { recursive: true });
await model.save(
  tf.io.withSaveHandler(async (artifacts) => {
    const shard = 'weights.bin';
    writeFileSync(join(out, shard), new Uint8Array(artifacts.weightData as ArrayBuffer));
    const modelJson = { format: 'layers-model', generatedBy: `TensorFlow.js ${tf.version.tfjs}`, convertedBy: null, modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: [shard], weights: artifacts.weightSpecs }] };
    writeFileSync(join(out, 'model.json'), JSON.stringify(modelJson));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }),
);
writeFileSync(join(out, 'training.json'), JSON.stringify(result, null, 2) + '\n');
console.log(`wrote ${out}`);
