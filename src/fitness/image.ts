import type { Genome } from '../space/space.js';
import type { Fidelity } from '../strategies/types.js';
import { readManifest } from '../compress/database.js';
import { readLayersModel } from '../models/layers-model.js';
import { createLayersRunner, type LayersBackend, type LayersRunner } from '../models/layers-runner.js';
import { CALIBRATION_PHOTOS, heldOutPairs, patches, photo } from '../data/photos.js';
import { to8Bit } from '../data/images.js';
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
  backend: LayersBackend;
  minimize: false;
}

/** Held-out evaluation: patches of this side from the held-out photographs. */
const HELD_OUT = { count: 24, size: 48 };

/**
 * PSNR (dB, maximised) of a compressed model's output against the dense model's, on patches of
 * real photographs: how faithfully the compressed network reproduces the original. The worker
 * holds one model (onnxruntime or TensorFlow.js) and replaces only the kernels whose level changed.
 */
export class ImageFitness implements Fitness {
  private readonly teachers: ByteLru<number, Float32Array>;

  private constructor(
    readonly spec: ImageFitnessSpec,
    private readonly runner: LayersRunner,
    readonly pool: Float32Array[],
    private readonly stitcher: Stitcher,
  ) {
    this.teachers = new ByteLru(spec.cacheMiB * 2 ** 20);
  }

  static async load(spec: ImageFitnessSpec): Promise<ImageFitness> {
    const manifest = readManifest(spec.database);
    const files = readLayersModel(spec.model);
    const runner = await createLayersRunner(files, spec.backend, manifest.units.flatMap((u) => u.weights));
    const stitcher = layersModelStitcher(spec.database, manifest, files, spec.levelCacheMiB);
    const pool = patches(CALIBRATION_PHOTOS.map(photo), spec.windows * spec.slices, spec.length);
    return new ImageFitness(spec, runner, pool, stitcher);
  }

  /** Patches of slice `slice` at fidelity `budget`: ⌈budget·windows⌉ consecutive pool patches, wrapping around. */
  windowsFor(fidelity: Fidelity): number[] {
    return samplesFor(fidelity, this.spec.windows, this.pool.length);
  }

  async evaluate(genome: Genome, fidelity: Fidelity): Promise<number> {
    const indices = this.windowsFor(fidelity);
    const teachers: Float32Array[] = [];
    for (const i of indices) teachers.push(await this.teacher(i));
    this.stitch(genome);
    const outputs = await this.run(indices.map((i) => this.pool[i]), this.spec.length);
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
    const dense = await this.run(pairs.map((p) => p.low), HELD_OUT.size);
    const rows = [];
    for (const genome of genomes) {
      this.stitch(genome);
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

  async close(): Promise<void> {
    await this.runner.close();
  }

  private stitch(genome: Genome | null): void {
    this.runner.write(this.stitcher.stitch(genome));
  }

  /** The model's outputs on square patches of one size, in one batch. */
  private async run(inputs: Float32Array[], size: number): Promise<Float32Array[]> {
    const out = await this.runner.run(concat(inputs), [inputs.length, size, size, 3]);
    const each = out.length / inputs.length;
    return inputs.map((_, k) => out.slice(k * each, (k + 1) * each));
  }

  /** The dense model's output on a pool patch: computed once, kept while the cache has room. */
  private async teacher(index: number): Promise<Float32Array> {
    const hit = this.teachers.get(index);
    if (hit) return hit;
    const saved = this.stitcher.configuration;
    this.stitch(null);
    const [out] = await this.run([this.pool[index]], this.spec.length);
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
