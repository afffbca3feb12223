import type { Genome } from '../space/space.js';
import type { ModelRunner } from '../models/runner.js';
import type { Stitcher } from '../compress/stitcher.js';
import { ByteLru } from '../runtime/byte-lru.js';

/**
 * A worker's model at one configuration of a level database: moving to a candidate replaces only
 * the weights of the units whose level changed.
 */
export class StitchedModel<Input> {
  constructor(
    private readonly runner: ModelRunner<Input>,
    private readonly stitcher: Stitcher,
  ) {}

  /** Puts each unit at its genome level (null: the dense model). */
  stitch(genome: Genome | null): void {
    this.runner.write(this.stitcher.stitch(genome));
  }

  /** The level of each unit now in the model (-1: dense). */
  get configuration(): number[] {
    return this.stitcher.configuration;
  }

  run(input: Input): Promise<Float32Array> {
    return this.runner.run(input);
  }

  /** Runs `fn` on the dense model, then returns to the configuration the model was at. */
  async onDense<T>(fn: () => Promise<T>): Promise<T> {
    const saved = this.configuration; // -1 entries: units still dense
    this.stitch(null);
    try {
      return await fn();
    } finally {
      this.stitch(saved);
    }
  }

  close(): Promise<void> {
    return this.runner.close();
  }
}

/**
 * The dense model's outputs on calibration samples, what candidates are compared with: computed
 * once per sample, kept while a byte budget allows (least recently used go first).
 */
export class DenseOutputs<T> {
  private readonly cache: ByteLru<number, T>;

  constructor(
    private readonly model: StitchedModel<unknown>,
    cacheMiB: number,
    /** What to keep of the dense model's output on sample `index`, and its size in bytes. */
    private readonly compute: (index: number) => Promise<{ value: T; bytes: number }>,
  ) {
    this.cache = new ByteLru(cacheMiB * 2 ** 20);
  }

  async get(index: number): Promise<T> {
    const hit = this.cache.get(index);
    if (hit !== undefined) return hit;
    const { value, bytes } = await this.model.onDense(() => this.compute(index));
    this.cache.set(index, value, bytes);
    return value;
  }
}
