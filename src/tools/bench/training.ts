/**
 * Training throughput of the reference language model, its students and a CNN student, on
 * TensorFlow.js in this process (one thread): tokens (pictures) per second, GFLOP/s counting a
 * training step as 3× the forward FLOPs (forward, and the two products of each backward matmul),
 * and the share of the measured peak.
 */
import { initTensorflow } from '../../runtime/tfjs.js';
import { initParams, trainableGpt2 } from '../../models/gpt2-training.js';
import { cnnLogits, initCnnParams, type CnnShape } from '../../models/cnn-training.js';
import { Adam } from '../../models/adam.js';
import type { TransformerConfig } from '../../models/config.js';
import { convFlops, transformerFlops } from '../../space/architecture.js';
import { Rng } from '../../rng/rng.js';

const STEPS = 12;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const gpt2 = (dModel: number, nLayers: number, nHeads: number, dFf: number): TransformerConfig => ({
  family: 'gpt2', vocabSize: 85, contextLength: 128, dModel, nLayers, nHeads, nKvHeads: nHeads, dFf, normEps: 1e-5, ropeTheta: 0, tieEmbeddings: true,
});

/** Seconds per step of each of STEPS steps after two warm-up steps. */
function stepSeconds(step: () => void): number[] {
  step();
  step();
  return Array.from({ length: STEPS }, () => {
    const t = performance.now();
    step();
    return (performance.now() - t) / 1000;
  });
}

/** `peak`: the machine's 2-core float32 MatMul peak in GFLOP/s, when the LM section measured it. */
export async function trainingBench(peak: number | null): Promise<void> {
  const { tf, backend } = await initTensorflow();
  const rng = Rng.fromSeed('training-bench');
  const text = Uint16Array.from({ length: 100_000 }, () => rng.int(0, 84));
  const share = (gflops: number) => (peak ? `, ${((100 * gflops) / (peak / 2)).toFixed(1)}% of one core's peak = ${((100 * gflops) / peak).toFixed(1)}% of the 2-core peak` : ' (peak not measured: --skip-lm)');
  console.log(`\n## Training throughput, TensorFlow.js ${backend}, one thread; batch 8 × 128 characters (LM), 32 pictures (CNN); median of ${STEPS} steps`);
  const lms: [string, TransformerConfig][] = [
    ['reference-lm teacher (4 × 160, MLP 640)', gpt2(160, 4, 4, 640)],
    ['hand-scaled 1/10 student (2 × 64, MLP 256)', gpt2(64, 2, 4, 256)],
    ['deep 1/10 student (6 × 48, MLP 96)', gpt2(48, 6, 2, 96)],
  ];
  for (const [label, config] of lms) {
    const params = initParams(tf, config, () => rng.normal());
    const adam = new Adam(tf, params, { beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.1, clip: 1 });
    const model = trainableGpt2(tf, config, params);
    const vars = [...params.values()];
    const seconds = median(stepSeconds(() => {
      const starts = Array.from({ length: 8 }, () => rng.int(0, text.length - 130));
      const { value, grads } = tf.variableGrads(() => model.loss(text, starts) as never, vars);
      adam.apply(grads, 1, 1e-3);
      tf.dispose([value, ...Object.values(grads)]);
    }));
    const tokens = 8 * 128;
    const flops = 3 * transformerFlops({ vocabSize: 85, context: 128 }, { blocks: config.nLayers, width: config.dModel, heads: Array(config.nLayers).fill(config.nHeads), mlpWidth: Array(config.nLayers).fill(config.dFf) });
    const gflops = (tokens / seconds) * flops / 1e9;
    console.log(`${label.padEnd(44)} ${(tokens / seconds).toFixed(0).padStart(6)} tokens/s, ${gflops.toFixed(2)} GFLOP/s${share(gflops)}`);
    tf.dispose([...vars, ...adam.m.values(), ...adam.v.values()]);
  }
  const cnn: CnnShape = { inputSize: 28, inputChannels: 1, classes: 10, channels: [8, 16], kernels: [3, 3], dense: 8 };
  const params = initCnnParams(tf, cnn, () => rng.normal());
  const adam = new Adam(tf, params, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0, clip: 0 });
  const vars = [...params.values()];
  const pictures = tf.randomUniform([32, 784]);
  const labels = tf.oneHot(tf.tensor1d(Int32Array.from({ length: 32 }, (_, i) => i % 10), 'int32'), 10);
  const seconds = median(stepSeconds(() => {
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, cnnLogits(tf, cnn, params, pictures)) as never, vars);
    adam.apply(grads, 1, 1e-3);
    tf.dispose([value, ...Object.values(grads)]);
  }));
  const flops = 3 * convFlops({ family: 'cnn', inputSize: 28, inputChannels: 1, classes: 10, dtype: 'float32', maxStages: 2, teacher: { path: '', sha256: '', parameters: 0 } }, cnn);
  const gflops = (32 / seconds) * flops / 1e9;
  console.log(`${'CNN student (3×3 convs 8, 16; dense 8)'.padEnd(44)} ${(32 / seconds).toFixed(0).padStart(6)} pictures/s, ${gflops.toFixed(2)} GFLOP/s${share(gflops)}`);
  tf.dispose([...vars, ...adam.m.values(), ...adam.v.values(), pictures, labels]);
}
