import type { Genome } from '../space/space.js';
import { weightShapes } from '../models/config.js';
import type { Transformer } from '../models/transformer.js';
import { weightValues, type LayersModelFiles } from '../models/layers-model.js';
import { readLevel, type Manifest } from './manifest.js';
import { ByteLru } from '../runtime/byte-lru.js';

/**
 * Which tensors a model holds for a configuration of a level database. A worker keeps one model;
 * moving it to the next candidate means replacing only the weights of units whose level changed.
 * Level tensors are read from the database one at a time, into a byte-bounded cache.
 */
export class Stitcher {
  /** The level of each unit now in the model; -1: the dense weights. */
  private readonly current: number[];
  private readonly levels: ByteLru<string, Float32Array>;
  /** All-zero tensors of dropped sub-blocks, one per weight. */
  private readonly zeroed = new Map<string, Float32Array>();

  constructor(
    private readonly dir: string,
    private readonly manifest: Manifest,
    private readonly dense: (weight: string) => Float32Array,
    private readonly shape: (weight: string) => number[],
    levelCacheMiB: number,
  ) {
    this.current = manifest.units.map(() => -1);
    this.levels = new ByteLru(levelCacheMiB * 2 ** 20);
  }

  /** The configuration now in the model (-1 entries: dense units). */
  get configuration(): number[] {
    return [...this.current];
  }

  /** Moves to `genome` (null: the dense model; -1 entries: dense units) and returns the weights to replace. */
  stitch(genome: Genome | null): [string, Float32Array][] {
    const changes: [string, Float32Array][] = [];
    this.manifest.units.forEach((unit, i) => {
      const level = genome ? genome[i] : -1;
      if (this.current[i] === level) return;
      const kind = level < 0 ? 'dense' : unit.levels[level].tensors;
      for (const name of unit.weights) changes.push([name, kind === 'dense' ? this.dense(name) : kind === 'zero' ? this.zeros(name) : this.level(i, level, name)]);
      this.current[i] = level;
    });
    return changes;
  }

  private zeros(name: string): Float32Array {
    let z = this.zeroed.get(name);
    if (!z) this.zeroed.set(name, (z = new Float32Array(this.dense(name).length)));
    return z;
  }

  private level(unit: number, level: number, weight: string): Float32Array {
    const key = `${unit}:${level}`;
    let data = this.levels.get(key);
    if (!data) {
      data = readLevel(this.dir, this.manifest, unit, level, this.shape(weight));
      this.levels.set(key, data, data.byteLength);
    }
    return data;
  }
}

/** A Stitcher over a transformer's dense weights (Hugging Face names and shapes). */
export function transformerStitcher(dir: string, manifest: Manifest, model: Transformer, levelCacheMiB: number): Stitcher {
  const shapes = weightShapes(model.config);
  return new Stitcher(dir, manifest, (name) => model.weights.get(name)!, (name) => shapes.get(name)!, levelCacheMiB);
}

/** A Stitcher over a LayersModel's dense weights (manifest names such as "F_0/kernel"). */
export function layersModelStitcher(dir: string, manifest: Manifest, files: LayersModelFiles, levelCacheMiB: number): Stitcher {
  const shapes = new Map(files.weightSpecs.map((w) => [w.name, w.shape]));
  return new Stitcher(dir, manifest, (name) => weightValues(files, name), (name) => shapes.get(name)!, levelCacheMiB);
}
