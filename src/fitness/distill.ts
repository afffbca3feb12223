import { z } from 'zod';
import type * as tfType from '@tensorflow/tfjs';
import type { Fidelity, Genome, Space } from '../space/space.js';
import { transformerShape, type TransformerArchitecture, type TransformerShape } from '../space/architecture.js';
import { initTensorflow } from '../runtime/tfjs.js';
import { loadTransformer, type Weights } from '../models/transformer.js';
import { readTokenizer } from '../models/tokenizer.js';
import { weightShapes, type TransformerConfig } from '../models/config.js';
import { batchIds, initParams, trainableGpt2, type TrainableGpt2 } from '../models/gpt2-training.js';
import { Adam, studentLearningRate } from '../models/adam.js';
import { checkModelUnchanged } from '../compress/hashing.js';
import { distillStreams, windowsOf, type DistillStreams } from '../data/text.js';
import { evaluationWindows } from '../data/windows.js';
import { Rng } from '../rng/rng.js';
import { UserError } from '../errors.js';
import { positiveInt } from '../validation.js';
import { TrainedStudents } from './trained-students.js';
import { DEFAULT_TIMEOUT, samplesFor, validationSlices, type Fitness, type FitnessContext } from './types.js';

export const distillFitnessSchema = z.strictObject({
  type: z.literal('distill'),
  /** Windows of the teacher's context per training step. */
  batch: positiveInt.default(8),
  /** Peak learning rate: linear warm-up over the first tenth of the steps, then cosine decay to a tenth of it. */
  learningRate: z.number().positive().default(3e-3),
  /** Calibration windows (2001–2010 text, which no student trains on) per slice, on which KL to the teacher is measured after training. */
  windows: positiveInt.default(8),
  slices: positiveInt.default(4),
  validationSlices,
  /** Memory for the teacher's cached probabilities on training batches, in MiB. */
  cacheMiB: positiveInt.default(512),
  timeout: z.number().positive().default(DEFAULT_TIMEOUT.model),
  minimize: z.literal(true).default(true),
});

export type DistillFitnessSpec = z.infer<typeof distillFitnessSchema>;

/** The GPT-2 config of a student shape; an elastic student whose blocks differ lists each block's heads and MLP width. */
export function studentConfig(arch: TransformerArchitecture, shape: TransformerShape): TransformerConfig {
  const uniform = shape.heads.every((h) => h === shape.heads[0]) && shape.mlpWidth.every((m) => m === shape.mlpWidth[0]);
  return {
    family: 'gpt2',
    vocabSize: arch.vocabSize,
    contextLength: arch.context,
    dModel: shape.width,
    nLayers: shape.blocks,
    nHeads: shape.heads[0],
    nKvHeads: shape.heads[0],
    dFf: shape.mlpWidth[0],
    normEps: 1e-5,
    ropeTheta: 0,
    tieEmbeddings: true,
    ...(!uniform && { blocks: shape.heads.map((heads, b) => ({ heads, dFf: shape.mlpWidth[b] })) }),
  };
}

/** Its Hugging Face config.json. */
export function studentHfConfig(config: TransformerConfig): Record<string, unknown> {
  return {
    model_type: 'gpt2',
    vocab_size: config.vocabSize,
    n_positions: config.contextLength,
    n_embd: config.dModel,
    n_layer: config.nLayers,
    n_head: config.nHeads,
    n_inner: config.dFf,
    layer_norm_epsilon: config.normEps,
    ...(config.blocks && { n_head_per_layer: config.blocks.map((b) => b.heads), n_inner_per_layer: config.blocks.map((b) => b.dFf) }),
  };
}

/**
 * Distillation fitness for GPT-2 students of the architecture space's teacher: a candidate is
 * built, trained for `fidelity.budget` steps on the training text against the teacher's
 * next-character distribution, then scored by KL(teacher ‖ student) per token on calibration
 * windows. Racing stages are then multi-fidelity: short trainings first, longer ones for the
 * survivors. Everything is seeded: a student's initial weights come from the run seed and its
 * architecture, step k's batch from the run seed and k, so a candidate scores the same on any worker.
 */
export class DistillFitness implements Fitness {
  /** Teacher probabilities of training step k's batch, [batch·T, vocab]; least recently used are dropped past cacheMiB. */
  private readonly targets = new Map<number, Float32Array>();
  private targetBytes = 0;
  /** The teacher's log-probabilities on calibration window i. */
  private readonly calibrationLogp = new Map<number, Float32Array>();
  private readonly trained = new TrainedStudents<{ config: TransformerConfig; weights: Weights }>(16);

  private constructor(
    readonly spec: DistillFitnessSpec,
    private readonly tf: typeof tfType,
    private readonly arch: TransformerArchitecture,
    private readonly space: Space,
    private readonly seed: number,
    private readonly teacher: TrainableGpt2,
    readonly teacherConfig: TransformerConfig,
    readonly text: DistillStreams,
    /** Search windows (windows·slices), then validation windows (windows·validationSlices), of T + 1 tokens. */
    private readonly calibration: Uint16Array[],
  ) {}

  static async load(spec: DistillFitnessSpec, ctx: FitnessContext): Promise<DistillFitness> {
    const arch = ctx.space.architecture;
    if (!arch || arch.family !== 'gpt2') throw new UserError('distill fitness: the space must be a gpt2 architecture space ("space": {"architecture": {"family": "gpt2", ...}})');
    const dir = arch.teacher.path;
    await checkModelUnchanged(dir, arch.teacher.sha256, 'teacher');
    const { tf } = await initTensorflow();
    const model = loadTransformer(dir);
    const tokenizer = readTokenizer(dir);
    const text = distillStreams((t) => tokenizer.encode(t));
    const params = new Map([...model.weights].map(([name, data]) => [name, tf.variable(tf.tensor(data, weightShapes(model.config).get(name)!), false, `teacher.${name}`)]));
    const teacher = trainableGpt2(tf, model.config, params);
    const T = arch.context;
    const calibration = windowsOf(text.calibration, T, spec.windows * (spec.slices + spec.validationSlices));
    return new DistillFitness(spec, tf, arch, ctx.space, ctx.seed, teacher, model.config, text, calibration);
  }

  /** The student a genome describes, trained for `steps` steps: its config and weights. */
  train(genome: Genome, steps: number): { config: TransformerConfig; weights: Weights } {
    const { tf, spec } = this;
    const shape = transformerShape(this.arch, this.space.units, genome);
    const config = studentConfig(this.arch, shape);
    // Seeded by the architecture, not the genome: genes of unused blocks change the genome, not the student.
    const init = Rng.fromSeed(`distill-init:${this.seed}:${JSON.stringify(shape)}`);
    const params = initParams(tf, config, () => init.normal());
    const adam = new Adam(tf, params, { beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.1, clip: 1 });
    const student = trainableGpt2(tf, config, params);
    const varList = [...params.values()];
    try {
      for (let k = 0; k < steps; k++) {
        const starts = this.batchStarts(k);
        const teacher = tf.tensor2d(this.teacherTargets(k, starts), [starts.length * config.contextLength, config.vocabSize]);
        const { value, grads } = tf.variableGrads(() => student.distillLoss(this.text.train, starts, teacher) as tfType.Scalar, varList);
        adam.apply(grads, k + 1, studentLearningRate(k, steps, spec.learningRate));
        tf.dispose([value, teacher, ...Object.values(grads)]);
      }
      return { config, weights: new Map([...params].map(([name, v]) => [name, v.dataSync() as Float32Array])) };
    } finally {
      tf.dispose([...varList, ...adam.m.values(), ...adam.v.values()]);
    }
  }

  async evaluate(genome: Genome, fidelity: Fidelity): Promise<number> {
    const steps = Math.max(1, Math.round(fidelity.budget));
    const key = `${JSON.stringify(transformerShape(this.arch, this.space.units, genome))}@${steps}`;
    const { config, weights } = this.trained.get(key, () => this.train(genome, steps));
    // The calibration windows a slice reads do not grow with the budget: the budget is training steps.
    const windows = samplesFor({ budget: 1, slice: fidelity.slice }, { perBudget: this.spec.windows, slices: this.spec.slices, validationSlices: this.spec.validationSlices });
    return this.klOn(config, weights, windows.map((i) => ({ window: this.calibration[i], teacher: () => this.calibrationTeacher(i) })));
  }

  /** Mean KL(teacher ‖ student) per token, and the student's perplexity, on evenly spaced held-out windows. */
  heldOut(config: TransformerConfig, weights: Weights, count = 64): { kl: number; perplexity: number } {
    const T = config.contextLength;
    const windows = evaluationWindows(this.text.heldOut.length, T, count).map((s) => this.text.heldOut.subarray(s, s + T + 1));
    const kl = this.klOn(config, weights, windows.map((w) => ({ window: w, teacher: () => this.logSoftmaxOf(this.teacher, w) })));
    const student = this.withStudent(config, weights, (model) => windows.map((w) => this.nll(model, w)));
    return { kl, perplexity: Math.exp(student.reduce((a, b) => a + b, 0) / student.length) };
  }

  private klOn(config: TransformerConfig, weights: Weights, items: { window: Uint16Array; teacher: () => Float32Array }[]): number {
    const V = config.vocabSize;
    const per = this.withStudent(config, weights, (model) =>
      items.map(({ window, teacher }) => {
        const logq = this.logSoftmaxOf(model, window);
        const logp = teacher();
        let kl = 0;
        for (let i = 0; i < logp.length; i++) kl += Math.exp(logp[i]) * (logp[i] - logq[i]);
        return kl / (logp.length / V);
      }),
    );
    return per.reduce((a, b) => a + b, 0) / per.length;
  }

  private withStudent<R>(config: TransformerConfig, weights: Weights, use: (model: TrainableGpt2) => R): R {
    const { tf } = this;
    const shapes = weightShapes(config);
    const params = new Map([...weights].map(([name, data]) => [name, tf.tensor(data, shapes.get(name)!)]));
    try {
      return use(trainableGpt2(tf, config, params));
    } finally {
      tf.dispose([...params.values()]);
    }
  }

  /** Log-probabilities [T, vocab] of a window's first T tokens. */
  private logSoftmaxOf(model: TrainableGpt2, window: Uint16Array): Float32Array {
    const { tf } = this;
    const { ids } = batchIds(window, [0], window.length - 1);
    return tf.tidy(() => tf.logSoftmax(model.logits(ids, 1)).dataSync() as Float32Array);
  }

  private nll(model: TrainableGpt2, window: Uint16Array): number {
    const { tf } = this;
    return tf.tidy(() => model.loss(window, [0]).dataSync()[0]);
  }

  private calibrationTeacher(i: number): Float32Array {
    let logp = this.calibrationLogp.get(i);
    if (!logp) this.calibrationLogp.set(i, (logp = this.logSoftmaxOf(this.teacher, this.calibration[i])));
    return logp;
  }

  /** Step k's batch: window starts in the training text, the same for every candidate of the run. */
  private batchStarts(k: number): number[] {
    const rng = Rng.fromSeed(`distill-batch:${this.seed}:${k}`);
    const T = this.arch.context;
    return Array.from({ length: this.spec.batch }, () => rng.int(0, this.text.train.length - T - 2));
  }

  private teacherTargets(k: number, starts: number[]): Float32Array {
    const cached = this.targets.get(k);
    if (cached) {
      this.targets.delete(k);
      this.targets.set(k, cached);
      return cached;
    }
    const { tf } = this;
    const { ids } = batchIds(this.text.train, starts, this.arch.context);
    const probs = tf.tidy(() => tf.softmax(this.teacher.logits(ids, starts.length)).dataSync() as Float32Array);
    this.targets.set(k, probs);
    this.targetBytes += probs.byteLength;
    for (const [key, value] of this.targets) {
      if (this.targetBytes <= this.spec.cacheMiB * 2 ** 20) break;
      this.targets.delete(key);
      this.targetBytes -= value.byteLength;
    }
    return probs;
  }

  close(): void {
    this.tf.disposeVariables();
  }
}
