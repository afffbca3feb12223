import type * as TF from '@tensorflow/tfjs';
import type { Genome } from '../space/space.js';
import type { Fidelity } from '../strategies/types.js';
import { readManifest } from '../compress/database.js';
import { layersModelStitcher, type Stitcher } from '../compress/stitcher.js';
import { inputShape, loadLayersModel, readLayersModel, writeWeights } from '../models/layers-model.js';
import { isDigitInput, loadDigits, type Digits } from '../data/digits.js';
import { UserError } from '../errors.js';
import { initTensorflow } from '../runtime/tfjs.js';
import { samplesFor, type Fitness } from './types.js';

/** What a worker needs to score a configuration of a digit classifier (plain JSON, stored with the run). */
export interface ClassifierFitnessSpec {
  type: 'accuracy';
  database: string;
  model: string;
  /** Calibration digits per unit of fidelity budget; slice s starts at digit s·windows. */
  windows: number;
  slices: number;
  levelCacheMiB: number;
  backend: 'tfjs';
  minimize: false;
}

/**
 * Accuracy (maximised) of a compressed classifier on the calibration split of the MNIST digits.
 * The worker holds one TensorFlow.js model and writes into it only the kernels whose level changed.
 */
export class ClassifierFitness implements Fitness {
  private constructor(
    readonly spec: ClassifierFitnessSpec,
    private readonly tf: typeof TF,
    private readonly model: TF.LayersModel,
    private readonly stitcher: Stitcher,
    private readonly calibration: Digits,
    /** The model's input shape without the batch axis: [784] (an MLP) or [28, 28, 1] (a CNN). */
    private readonly input: number[],
  ) {}

  static async load(spec: ClassifierFitnessSpec): Promise<ClassifierFitness> {
    const manifest = readManifest(spec.database);
    const { tf } = await initTensorflow();
    const files = readLayersModel(spec.model);
    const input = inputShape(files);
    if (!isDigitInput(input)) throw new UserError(`${spec.model}/model.json: accuracy fitness scores 28 × 28 digits, but the model takes [${input.join(', ')}]`);
    const model = await loadLayersModel(tf, files);
    const stitcher = layersModelStitcher(spec.database, manifest, files, spec.levelCacheMiB);
    return new ClassifierFitness(spec, tf, model, stitcher, loadDigits('calibration'), input as number[]);
  }

  /** Digits of slice `slice` at fidelity `budget`: ⌈budget·windows⌉ consecutive calibration digits, wrapping around. */
  windowsFor(fidelity: Fidelity): number[] {
    return samplesFor(fidelity, this.spec.windows, this.calibration.count);
  }

  async evaluate(genome: Genome, fidelity: Fidelity): Promise<number> {
    writeWeights(this.tf, this.model, this.stitcher.stitch(genome));
    const indices = this.windowsFor(fidelity);
    const images = new Float32Array(indices.length * 784);
    indices.forEach((d, k) => images.set(this.calibration.images.subarray(d * 784, (d + 1) * 784), k * 784));
    const predicted = this.predict(images, indices.length);
    return indices.reduce((s, d, k) => s + (predicted[k] === this.calibration.labels[d] ? 1 : 0), 0) / indices.length;
  }

  /** Held-out accuracy, and agreement with the dense model's predictions, for each configuration (null: dense). */
  async measureHeldOut(genomes: (Genome | null)[]): Promise<{ accuracy: number; agreement: number }[]> {
    const heldOut = loadDigits('heldOut');
    writeWeights(this.tf, this.model, this.stitcher.stitch(null));
    const dense = this.predict(heldOut.images, heldOut.count);
    return genomes.map((genome) => {
      writeWeights(this.tf, this.model, this.stitcher.stitch(genome));
      const predicted = this.predict(heldOut.images, heldOut.count);
      let correct = 0;
      let agree = 0;
      predicted.forEach((p, i) => {
        correct += p === heldOut.labels[i] ? 1 : 0;
        agree += p === dense[i] ? 1 : 0;
      });
      return { accuracy: correct / heldOut.count, agreement: agree / heldOut.count };
    });
  }

  async close(): Promise<void> {
    this.model.dispose();
  }

  private predict(images: Float32Array, count: number): Int32Array {
    const { tf } = this;
    return tf.tidy(() => (this.model.predict(tf.tensor(images, [count, ...this.input])) as TF.Tensor).argMax(-1).dataSync() as Int32Array);
  }
}
