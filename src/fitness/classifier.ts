import { z } from 'zod';
import { genomeKey, type Genome, type Fidelity } from '../space/space.js';
import { readManifest } from '../compress/manifest.js';
import { layersModelStitcher } from '../compress/stitcher.js';
import { inputShape, readLayersModel } from '../models/layers-model.js';
import { createLayersRunner, type LayersInput } from '../models/layers-runner.js';
import { CALIBRATION_COUNT, isPictureInput, loadPictures, PICTURE_SIZE, type Pictures } from '../data/fashion.js';
import { UserError } from '../errors.js';
import { positiveInt } from '../validation.js';
import { StitchedModel } from './stitched-model.js';
import { layersModelFitness, samplesFor, type Fitness, type ModelFiles, type SampleLayout } from './types.js';

export const accuracyFitnessSchema = z.strictObject({
  type: z.literal('accuracy'),
  /** Calibration pictures per unit of fidelity budget (the calibration split has 5,000); search slice s starts at picture s·pictures, and validation slices read the split's last pictures·validationSlices. */
  pictures: positiveInt.default(250),
  slices: positiveInt.default(6),
  ...layersModelFitness,
});

/** What a worker needs to score a configuration of an image classifier (plain JSON, stored with the run). */
export type ClassifierFitnessSpec = z.infer<typeof accuracyFitnessSchema> & ModelFiles;

/**
 * Where an accuracy fitness's pictures lie in the calibration split of `count`. Search slices wrap
 * within the whole split, as they always have; the validation pictures are the split's last
 * pictures·validationSlices, which the search reaches only at budgets that
 * {@link validationRoomProblem} refuses when the experiment is read.
 */
export function classifierLayout(spec: Pick<ClassifierFitnessSpec, 'pictures' | 'slices' | 'validationSlices'>, count = CALIBRATION_COUNT): SampleLayout {
  return { perBudget: spec.pictures, slices: spec.slices, validationSlices: spec.validationSlices, searchPool: count, validationStart: count - spec.pictures * spec.validationSlices };
}

/**
 * Why an accuracy fitness's validation pictures would not be kept from its search, whose fidelity
 * budgets reach `largestBudget`, or null. Search slice s at budget b reads ⌈b·pictures⌉ pictures
 * from s·pictures on (budget 1 at least counted: a whole slice); the validation pictures are the last
 * pictures·validationSlices of the split.
 */
export function validationRoomProblem(spec: Pick<ClassifierFitnessSpec, 'pictures' | 'slices' | 'validationSlices'>, largestBudget: number, count = CALIBRATION_COUNT): string | null {
  if (spec.validationSlices === 0) return null;
  const reserved = spec.pictures * spec.validationSlices;
  const searched = (spec.slices - 1) * spec.pictures + Math.ceil(Math.max(1, largestBudget) * spec.pictures - 1e-9);
  if (searched + reserved <= count) return null;
  return (
    `expected validationSlices × pictures (${spec.validationSlices} × ${spec.pictures}) to fit in the ${count} calibration pictures beside the ${searched} ` +
    `that ${spec.slices} search slices read at fidelity budget ${Math.max(1, largestBudget)}; lower validationSlices (0 reserves none), slices, pictures or the strategy's budget`
  );
}

/**
 * Accuracy (maximised) of a compressed classifier on the calibration split of Fashion-MNIST.
 * The worker holds one model (onnxruntime or TensorFlow.js) and replaces only the kernels whose level changed.
 */
export class ClassifierFitness implements Fitness {
  private constructor(
    readonly spec: ClassifierFitnessSpec,
    private readonly model: StitchedModel<LayersInput>,
    private readonly calibration: Pictures,
    /** The model's input shape without the batch axis: [784] (an MLP) or [28, 28, 1] (a CNN). */
    private readonly input: number[],
  ) {}

  static async load(spec: ClassifierFitnessSpec): Promise<ClassifierFitness> {
    const manifest = readManifest(spec.database);
    const files = readLayersModel(spec.model);
    const input = inputShape(files);
    if (!isPictureInput(input)) throw new UserError(`${spec.model}/model.json: accuracy fitness scores 28 × 28 grey pictures, but the model takes [${input.join(', ')}]`);
    const runner = await createLayersRunner(files, spec.backend, manifest.units.flatMap((u) => u.weights));
    const model = new StitchedModel(runner, layersModelStitcher(spec.database, manifest, files, spec.levelCacheMiB));
    return new ClassifierFitness(spec, model, loadPictures('calibration'), input as number[]);
  }

  /** Pictures of slice `slice` at fidelity `budget`: ⌈budget·pictures⌉ consecutive calibration pictures, wrapping within the split (search) or the validation pictures. */
  samplesFor(fidelity: Fidelity): number[] {
    return samplesFor(fidelity, classifierLayout(this.spec, this.calibration.count));
  }

  async evaluate(genome: Genome, fidelity: Fidelity): Promise<number> {
    this.model.stitch(genome);
    const indices = this.samplesFor(fidelity);
    const images = new Float32Array(indices.length * PICTURE_SIZE);
    indices.forEach((d, k) => images.set(this.calibration.images.subarray(d * PICTURE_SIZE, (d + 1) * PICTURE_SIZE), k * PICTURE_SIZE));
    const predicted = await this.predict(images, indices.length);
    return indices.reduce((s, d, k) => s + (predicted[k] === this.calibration.labels[d] ? 1 : 0), 0) / indices.length;
  }

  /** Held-out accuracy, and agreement with the dense model's predictions, for each configuration (null: dense). */
  async measureHeldOut(genomes: (Genome | null)[]): Promise<{ accuracy: number; agreement: number }[]> {
    const heldOut = loadPictures('heldOut');
    const dense = await this.predictHeldOut(null);
    const rows = [];
    for (const genome of genomes) {
      const predicted = await this.predictHeldOut(genome);
      let correct = 0;
      let agree = 0;
      predicted.forEach((p, i) => {
        correct += p === heldOut.labels[i] ? 1 : 0;
        agree += p === dense[i] ? 1 : 0;
      });
      rows.push({ accuracy: correct / heldOut.count, agreement: agree / heldOut.count });
    }
    return rows;
  }

  /**
   * A paired comparison of two configurations on the held-out pictures: how many `b` classifies
   * right where `a` is wrong (gained) and the reverse (lost). McNemar's z = (gained − lost) /
   * √(gained + lost) says whether an accuracy difference is more than the luck of the test set.
   */
  async pairedHeldOut(a: Genome | null, b: Genome | null): Promise<{ gained: number; lost: number }> {
    const { labels } = loadPictures('heldOut');
    const [pa, pb] = [await this.predictHeldOut(a), await this.predictHeldOut(b)];
    let gained = 0;
    let lost = 0;
    labels.forEach((label, i) => {
      if (pb[i] === label && pa[i] !== label) gained++;
      if (pa[i] === label && pb[i] !== label) lost++;
    });
    return { gained, lost };
  }

  /** Held-out predictions per configuration, kept: a comparison asks for the same ones again (40 KB each). */
  private readonly heldOutPredictions = new Map<string, Int32Array>();

  private async predictHeldOut(genome: Genome | null): Promise<Int32Array> {
    const key = genome ? genomeKey(genome) : 'dense';
    let predicted = this.heldOutPredictions.get(key);
    if (!predicted) {
      const heldOut = loadPictures('heldOut');
      this.model.stitch(genome);
      predicted = await this.predict(heldOut.images, heldOut.count);
      this.heldOutPredictions.set(key, predicted);
    }
    return predicted;
  }

  close(): Promise<void> {
    return this.model.close();
  }

  /** Predicted classes, 1,000 pictures at a time: a whole test set at once would hold gigabytes of activations. */
  private async predict(images: Float32Array, count: number): Promise<Int32Array> {
    const out = new Int32Array(count);
    for (let from = 0; from < count; from += 1000) {
      const n = Math.min(1000, count - from);
      const logits = await this.model.run({ data: images.subarray(from * PICTURE_SIZE, (from + n) * PICTURE_SIZE), dims: [n, ...this.input] });
      const classes = logits.length / n;
      for (let i = 0; i < n; i++) {
        let best = 0;
        for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
        out[from + i] = best;
      }
    }
    return out;
  }
}
