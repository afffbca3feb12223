import { z } from 'zod';
import type * as tfType from '@tensorflow/tfjs';
import type { Fidelity, Genome, Space } from '../space/space.js';
import { convShape, type ConvArchitecture } from '../space/architecture.js';
import { initTensorflow } from '../runtime/tfjs.js';
import { cnnLogits, cnnWeightShapes, initCnnParams, type CnnShape } from '../models/cnn-training.js';
import { Adam, studentLearningRate } from '../models/adam.js';
import { checkModelUnchanged } from '../compress/hashing.js';
import { CALIBRATION_COUNT, PICTURE_SIZE, loadPictures, type Pictures } from '../data/fashion.js';
import { Rng } from '../rng/rng.js';
import { UserError } from '../errors.js';
import { positiveInt } from '../validation.js';
import { DEFAULT_TIMEOUT, samplesFor, validationSlices, type Fitness, type FitnessContext } from './types.js';
import { TrainedStudents } from './trained-students.js';

export const trainFitnessSchema = z
  .strictObject({
    type: z.literal('train'),
    /** Pictures per training step. */
    batch: positiveInt.default(64),
    /** Peak learning rate: warm-up over the first tenth of the steps, then cosine decay to a tenth. */
    learningRate: z.number().positive().default(2e-3),
    /** Calibration pictures per slice, on which accuracy is measured after training. */
    pictures: positiveInt.default(1000),
    slices: positiveInt.default(3),
    validationSlices: validationSlices.default(2),
    timeout: z.number().positive().default(DEFAULT_TIMEOUT.model),
    minimize: z.literal(false).default(false),
  })
  .refine((f) => f.pictures * (f.slices + f.validationSlices) <= CALIBRATION_COUNT, {
    message: `expected pictures × (slices + validationSlices) ≤ ${CALIBRATION_COUNT}, the calibration pictures there are`,
    path: ['pictures'],
  });

export type TrainFitnessSpec = z.infer<typeof trainFitnessSchema>;

/** The trainable shape of a CNN student. */
export function cnnShapeOf(arch: ConvArchitecture, units: Space['units'], genome: Genome): CnnShape {
  const s = convShape(arch, units, genome);
  return { inputSize: arch.inputSize, inputChannels: arch.inputChannels, classes: arch.classes, channels: s.channels, kernels: s.kernels, dense: s.dense };
}

/**
 * Training fitness for CNN students of the clothing classifier: a candidate is built, trained for
 * `fidelity.budget` steps on Fashion-MNIST's training split from its labels, then scored by its
 * accuracy on calibration pictures (never the official test set). Seeded like `distill`: the
 * initial weights from the run seed and the architecture, step k's pictures from the run seed and k.
 */
export class TrainFitness implements Fitness {
  private readonly trained = new TrainedStudents<Map<string, Float32Array>>(16);

  private constructor(
    readonly spec: TrainFitnessSpec,
    private readonly tf: typeof tfType,
    private readonly arch: ConvArchitecture,
    private readonly space: Space,
    private readonly seed: number,
    private readonly train: Pictures,
    private readonly calibration: Pictures,
  ) {}

  static async load(spec: TrainFitnessSpec, ctx: FitnessContext): Promise<TrainFitness> {
    const arch = ctx.space.architecture;
    if (!arch || arch.family !== 'cnn') throw new UserError('train fitness: the space must be a cnn architecture space ("space": {"architecture": {"family": "cnn", ...}})');
    await checkModelUnchanged(arch.teacher.path, arch.teacher.sha256, 'classifier');
    const { tf } = await initTensorflow();
    return new TrainFitness(spec, tf, arch, ctx.space, ctx.seed, loadPictures('train'), loadPictures('calibration'));
  }

  /** The student a genome describes, trained for `steps` steps: its weights by name. */
  trainStudent(genome: Genome, steps: number): { shape: CnnShape; weights: Map<string, Float32Array> } {
    const { tf, spec } = this;
    const shape = cnnShapeOf(this.arch, this.space.units, genome);
    // Seeded by the architecture, not the genome: genes of unused stages change the genome, not the network.
    const init = Rng.fromSeed(`train-init:${this.seed}:${JSON.stringify(shape)}`);
    const params = initCnnParams(tf, shape, () => init.normal());
    const adam = new Adam(tf, params, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0, clip: 0 });
    const varList = [...params.values()];
    try {
      for (let k = 0; k < steps; k++) {
        const rng = Rng.fromSeed(`train-batch:${this.seed}:${k}`);
        const ids = Array.from({ length: spec.batch }, () => rng.int(0, this.train.count - 1));
        const x = new Float32Array(ids.length * PICTURE_SIZE);
        ids.forEach((d, i) => x.set(this.train.images.subarray(d * PICTURE_SIZE, (d + 1) * PICTURE_SIZE), i * PICTURE_SIZE));
        const labels = tf.oneHot(tf.tensor1d(Int32Array.from(ids, (d) => this.train.labels[d]), 'int32'), shape.classes);
        const pictures = tf.tensor2d(x, [ids.length, PICTURE_SIZE]);
        const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, cnnLogits(tf, shape, params, pictures)) as tfType.Scalar, varList);
        adam.apply(grads, k + 1, studentLearningRate(k, steps, spec.learningRate));
        tf.dispose([value, labels, pictures, ...Object.values(grads)]);
      }
      return { shape, weights: new Map([...params].map(([name, v]) => [name, v.dataSync() as Float32Array])) };
    } finally {
      tf.dispose([...varList, ...adam.m.values(), ...adam.v.values()]);
    }
  }

  evaluate(genome: Genome, fidelity: Fidelity): number {
    const steps = Math.max(1, Math.round(fidelity.budget));
    const key = `${JSON.stringify(cnnShapeOf(this.arch, this.space.units, genome))}@${steps}`;
    const weights = this.trained.get(key, () => this.trainStudent(genome, steps).weights);
    const pictures = samplesFor({ budget: 1, slice: fidelity.slice }, { perBudget: this.spec.pictures, slices: this.spec.slices, validationSlices: this.spec.validationSlices });
    return this.accuracy(cnnShapeOf(this.arch, this.space.units, genome), weights, this.calibration, pictures);
  }

  /** The share of `indices` (default: all) of a picture set that the student classifies right. */
  accuracy(shape: CnnShape, weights: Map<string, Float32Array>, set: Pictures, indices?: number[]): number {
    const { tf } = this;
    const ids = indices ?? Array.from({ length: set.count }, (_, i) => i);
    const params = new Map([...weights].map(([name, data]) => [name, tf.tensor(data, cnnWeightShapes(shape).get(name)!)]));
    let correct = 0;
    try {
      for (let from = 0; from < ids.length; from += 500) {
        const chunk = ids.slice(from, from + 500);
        const x = new Float32Array(chunk.length * PICTURE_SIZE);
        chunk.forEach((d, i) => x.set(set.images.subarray(d * PICTURE_SIZE, (d + 1) * PICTURE_SIZE), i * PICTURE_SIZE));
        const predicted = tf.tidy(() => cnnLogits(tf, shape, params, tf.tensor2d(x, [chunk.length, PICTURE_SIZE])).argMax(-1).dataSync());
        chunk.forEach((d, i) => (correct += predicted[i] === set.labels[d] ? 1 : 0));
      }
    } finally {
      tf.dispose([...params.values()]);
    }
    return correct / ids.length;
  }

  close(): void {
    this.tf.disposeVariables();
  }
}
