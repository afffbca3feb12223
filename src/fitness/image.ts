import type * as TF from '@tensorflow/tfjs';
import type { Genome } from '../space/space.js';
import type { Fidelity } from '../strategies/types.js';
import { readManifest } from '../compress/database.js';
import { loadLayersModel, readLayersModel, writeWeights } from '../models/layers-model.js';
import { CALIBRATION_PHOTOS, heldOutPairs, patches, photo } from '../data/photos.js';
import { to8Bit } from '../data/images.js';
import { initTensorflow } from '../runtime/tfjs.js';
import { ByteLru } from '../compress/lru.js';
import { layersModelStitcher, type Stitcher } from '../compress/stitcher.js';
import { samplesFor, type Fitness } from './types.js';

/** What a worker needs to score a configuration of an image-to-image LayersModel (plain JSON, stored with the run). */
export interface ImageFitnessSpec {
  type: 'psnr';
  database: string;
  model: string;
  /** Calibration patches per unit of fidelity budget; a slice is `windows` consecutive patches of the pool. */
  windows: number;
  slices: number;
  /** Side of a (low-resolution) calibration patch, in pixels. */
  length: number;
  cacheMiB: number;
  levelCacheMiB: number;
  backend: 'tfjs';
  minimize: false;
}

/** Held-out evaluation: patches of this side from the held-out photographs. */
const HELD_OUT = { count: 24, size: 48 };

/**
 * PSNR (dB, maximised) of a compressed model's output against the dense model's, on patches of
 * real photographs: how faithfully the compressed network reproduces the original. The worker
 * holds one TensorFlow.js model and writes into its kernels only the layers whose level changed.
 */
export class ImageFitness implements Fitness {
  private readonly teachers: ByteLru<number, Float32Array>;

  private constructor(
    readonly spec: ImageFitnessSpec,
    private readonly tf: typeof TF,
    private readonly model: TF.LayersModel,
    readonly pool: Float32Array[],
    private readonly stitcher: Stitcher,
  ) {
    this.teachers = new ByteLru(spec.cacheMiB * 2 ** 20);
  }

  static async load(spec: ImageFitnessSpec): Promise<ImageFitness> {
    const manifest = readManifest(spec.database);
    const { tf } = await initTensorflow();
    const files = readLayersModel(spec.model);
    const model = await loadLayersModel(tf, files);
    const stitcher = layersModelStitcher(spec.database, manifest, files, spec.levelCacheMiB);
    const pool = patches(CALIBRATION_PHOTOS.map(photo), spec.windows * spec.slices, spec.length);
    return new ImageFitness(spec, tf, model, pool, stitcher);
  }

  /** Patches of slice `slice` at fidelity `budget`: ⌈budget·windows⌉ consecutive pool patches, wrapping around. */
  windowsFor(fidelity: Fidelity): number[] {
    return samplesFor(fidelity, this.spec.windows, this.pool.length);
  }

  async evaluate(genome: Genome, fidelity: Fidelity): Promise<number> {
    const indices = this.windowsFor(fidelity);
    const teachers = indices.map((i) => this.teacher(i));
    this.stitch(genome);
    const outputs = this.run(indices.map((i) => this.pool[i]), this.spec.length);
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
    this.stitch(null);
    const dense = this.run(pairs.map((p) => p.low), HELD_OUT.size);
    return genomes.map((genome) => {
      this.stitch(genome);
      const outputs = this.run(pairs.map((p) => p.low), HELD_OUT.size).map(to8Bit);
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
      return { psnrToDense: psnrOf(toDense / n), psnrToPhoto: psnrOf(toPhoto / n) };
    });
  }

  async close(): Promise<void> {
    this.model.dispose();
  }

  private stitch(genome: Genome | null): void {
    writeWeights(this.tf, this.model, this.stitcher.stitch(genome));
  }

  /** The model's outputs on square patches of one size, in one batch. */
  private run(inputs: Float32Array[], size: number): Float32Array[] {
    const { tf } = this;
    return tf.tidy(() => {
      const batch = tf.tensor4d(concat(inputs), [inputs.length, size, size, 3]);
      const out = (this.model.predict(batch) as TF.Tensor).dataSync() as Float32Array;
      const each = out.length / inputs.length;
      return inputs.map((_, k) => out.slice(k * each, (k + 1) * each));
    });
  }

  /** The dense model's output on a pool patch: computed once, kept while the cache has room. */
  private teacher(index: number): Float32Array {
    const hit = this.teachers.get(index);
    if (hit) return hit;
    const saved = this.stitcher.configuration;
    this.stitch(null);
    const [out] = this.run([this.pool[index]], this.spec.length);
    this.stitch(saved);
    this.teachers.set(index, out, out.byteLength);
    return out;
  }
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
