import { z } from 'zod';
import type { Genome, Fidelity } from '../space/space.js';
import { readManifest } from '../compress/manifest.js';
import { readLayersModel } from '../models/layers-model.js';
import { createLayersRunner } from '../models/layers-runner.js';
import { CALIBRATION_PHOTOS, heldOutPairs, patches, photo } from '../data/photos.js';
import { to8Bit } from '../data/images.js';
import { layersModelStitcher } from '../compress/stitcher.js';
import { positiveInt } from '../validation.js';
import { DenseOutputs, StitchedModel } from './stitched-model.js';
import { layersModelFitness, samplesFor, type Fitness, type ModelFiles, type SampleLayout } from './types.js';
import type { LayersInput } from '../models/layers-runner.js';

export const psnrFitnessSchema = z.strictObject({
  type: z.literal('psnr'),
  /** Calibration patches per unit of fidelity budget; a slice is `patches` consecutive patches of the pool (`patches`·`slices` for the search, then `patches`·`validationSlices` for validation). */
  patches: positiveInt.default(4),
  slices: positiveInt.default(16),
  /** Side of a (low-resolution) calibration patch, in pixels. */
  patchSize: positiveInt.default(32),
  /** Memory for cached dense outputs, in MiB (least recently used patches are dropped). */
  cacheMiB: positiveInt.default(256),
  ...layersModelFitness,
});

/** What a worker needs to score a configuration of an image-to-image LayersModel (plain JSON, stored with the run). */
export type ImageFitnessSpec = z.infer<typeof psnrFitnessSchema> & ModelFiles;

/** Held-out evaluation: patches of this side from the held-out photographs. */
const HELD_OUT = { count: 24, size: 48 };

/**
 * PSNR (dB, maximised) of a compressed model's output against the dense model's, on patches of
 * real photographs: how faithfully the compressed network reproduces the original. The worker
 * holds one model (onnxruntime or TensorFlow.js) and replaces only the kernels whose level changed.
 */
export class ImageFitness implements Fitness {
  private readonly teachers: DenseOutputs<Float32Array>;

  private constructor(
    readonly spec: ImageFitnessSpec,
    private readonly model: StitchedModel<LayersInput>,
    readonly pool: Float32Array[],
  ) {
    this.teachers = new DenseOutputs(model, spec.cacheMiB, async (index) => {
      const [out] = await this.run([this.pool[index]], spec.patchSize);
      return { value: out, bytes: out.byteLength };
    });
  }

  static async load(spec: ImageFitnessSpec): Promise<ImageFitness> {
    const manifest = readManifest(spec.database);
    const files = readLayersModel(spec.model);
    const runner = await createLayersRunner(files, spec.backend, manifest.units.flatMap((u) => u.weights));
    const model = new StitchedModel(runner, layersModelStitcher(spec.database, manifest, files, spec.levelCacheMiB));
    const pool = patches(CALIBRATION_PHOTOS.map(photo), spec.patches * (spec.slices + spec.validationSlices), spec.patchSize);
    return new ImageFitness(spec, model, pool);
  }

  /** Patches of slice `slice` at fidelity `budget`: ⌈budget·patches⌉ consecutive pool patches, wrapping within the search or the validation patches. */
  samplesFor(fidelity: Fidelity): number[] {
    return samplesFor(fidelity, imageLayout(this.spec));
  }

  async evaluate(genome: Genome, fidelity: Fidelity): Promise<number> {
    const indices = this.samplesFor(fidelity);
    const teachers: Float32Array[] = [];
    for (const i of indices) teachers.push(await this.teachers.get(i));
    this.model.stitch(genome);
    const outputs = await this.run(indices.map((i) => this.pool[i]), this.spec.patchSize);
    let se = 0;
    let n = 0;
    outputs.forEach((out, k) => {
      for (let j = 0; j < out.length; j++) se += (out[j] - teachers[k][j]) ** 2;
      n += out.length;
    });
    return psnrOf(se / n);
  }

  /**
   * Held-out photographs: PSNR against the dense model's output (fidelity) and against the
   * photograph itself (the super-resolution quality a user sees), for each configuration (null: dense).
   */
  async measureHeldOut(genomes: (Genome | null)[]): Promise<{ psnrToDense: number; psnrToPhoto: number }[]> {
    const pairs = heldOutPairs(HELD_OUT.count, HELD_OUT.size);
    this.model.stitch(null);
    const dense = await this.run(pairs.map((p) => p.low), HELD_OUT.size);
    const rows = [];
    for (const genome of genomes) {
      this.model.stitch(genome);
      const outputs = (await this.run(pairs.map((p) => p.low), HELD_OUT.size)).map(to8Bit);
      let toDense = 0;
      let toPhoto = 0;
      let n = 0;
      outputs.forEach((out, k) => {
        for (let j = 0; j < out.length; j++) {
          toDense += (out[j] - dense[k][j]) ** 2;
          toPhoto += (out[j] - pairs[k].high[j]) ** 2;
        }
        n += out.length;
      });
      rows.push({ psnrToDense: psnrOf(toDense / n), psnrToPhoto: psnrOf(toPhoto / n) });
    }
    return rows;
  }

  close(): Promise<void> {
    return this.model.close();
  }

  /** The model's outputs on square patches of one size, in one batch. */
  private async run(inputs: Float32Array[], size: number): Promise<Float32Array[]> {
    const out = await this.model.run({ data: concat(inputs), dims: [inputs.length, size, size, 3] });
    const each = out.length / inputs.length;
    return inputs.map((_, k) => out.slice(k * each, (k + 1) * each));
  }
}

/**
 * Where a psnr fitness's patches lie in its pool. Patch i does not depend on the pool's size, so the
 * search reads the patches it read before validation slices existed; the validation patches follow.
 */
export function imageLayout(spec: Pick<ImageFitnessSpec, 'patches' | 'slices' | 'validationSlices'>): SampleLayout {
  return { perBudget: spec.patches, slices: spec.slices, validationSlices: spec.validationSlices };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function psnrOf(mse: number): number {
  return mse === 0 ? 200 : 10 * Math.log10((255 * 255) / mse);
}
