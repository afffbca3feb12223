import type { TransformerRunner } from '../models/transformer-runner.js';
import { ByteLru } from '../runtime/byte-lru.js';

/** What a forward pass through a resumable model needs: see TransformerRunner.resume. */
type Resume = NonNullable<TransformerRunner['resume']>;

/**
 * Prefix reuse: an offspring differs from its parent in a few units, so on a calibration window
 * its residual stream equals the parent's up to the first sub-block it changes. The streams of
 * every configuration run here are kept per window and residual point, keyed by the levels of the
 * units that point depends on, in a byte-bounded cache; a forward pass starts from the deepest
 * point already known for its configuration. The logits are bit for bit those of a whole pass
 * (test: transformer runner), so the fitness does not depend on what the cache held.
 */
export class PrefixReuse {
  private readonly streams: ByteLru<string, Float32Array>;
  /** unitsFirstAt[p]: the units whose weights first change the stream at cut point p (point 0's at 1). */
  private readonly unitsFirstAt: number[][] = [];
  /** Sub-blocks run and sub-blocks a whole pass would have run, since the start. */
  private run = 0;
  private whole = 0;

  /**
   * `affects[u]`: the first residual point unit u's weights change; `points`: the model's
   * residual points (2·layers + 1: the last is never cut at).
   */
  constructor(
    private readonly resume: Resume,
    affects: number[],
    private readonly points: number,
    cacheMiB: number,
  ) {
    this.streams = new ByteLru(cacheMiB * 2 ** 20);
    // Units that change point 0 change every point after it too: they join the first cut's key.
    affects.forEach((point, u) => (this.unitsFirstAt[Math.max(1, point)] ??= []).push(u));
  }

  /** Logits of window `window` (its `tokens`) under `configuration` (the level of each unit now in the model; -1: dense). */
  async logits(window: number, tokens: Uint16Array, configuration: number[]): Promise<Float32Array> {
    const keys = this.keys(window, configuration);
    let from = 0;
    let stream: Float32Array | null = null;
    for (let p = keys.length - 1; p >= 1 && !stream; p--) {
      stream = this.streams.get(keys[p]) ?? null;
      if (stream) from = p;
    }
    const out = await this.resume(tokens, from, stream);
    for (const [p, s] of out.residuals) this.streams.set(keys[p], s, s.byteLength + 2 * keys[p].length + 64);
    this.run += this.points - 1 - from;
    this.whole += this.points - 1;
    return out.logits;
  }

  /** Share of sub-blocks that prefix reuse skipped so far. */
  get skipped(): number {
    return this.whole === 0 ? 0 : 1 - this.run / this.whole;
  }

  /**
   * keys[p] for each cut point p ≥ 1: the window, the point and the levels of the units its stream
   * depends on. Each point's units are the previous point's and those it adds, so the levels are
   * read once per window, not once per point.
   */
  private keys(window: number, configuration: number[]): string[] {
    const keys: string[] = [''];
    let levels = '';
    for (let p = 1; p < this.points - 1; p++) {
      for (const u of this.unitsFirstAt[p] ?? []) levels += `${u}:${configuration[u]},`;
      keys.push(`${window}|${p}|${levels}`);
    }
    return keys;
  }
}
