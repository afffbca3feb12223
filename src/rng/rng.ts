import seedrandom from 'seedrandom';

/** The serialisable state of an {@link Rng}: restore it and the sequence continues exactly. */
export type RngState = seedrandom.State.Alea;

/**
 * A seeded generator whose state is plain JSON, so that strategies stay pure and a checkpoint
 * resumes the exact random sequence. Backed by seedrandom's Alea (fast, good enough for search).
 */
export class Rng {
  private readonly gen: seedrandom.StatefulPRNG<RngState>;

  private constructor(gen: seedrandom.StatefulPRNG<RngState>) {
    this.gen = gen;
  }

  static fromSeed(seed: number | string): Rng {
    return new Rng(seedrandom.alea(String(seed), { state: true }));
  }

  static fromState(state: RngState): Rng {
    // seedrandom restores from `state`; the seed argument is then ignored.
    return new Rng(seedrandom.alea('', { state: { ...state } }));
  }

  state(): RngState {
    return this.gen.state();
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.gen();
  }

  /** Uniform integer in [lo, hi], both ends included. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.gen() * (hi - lo + 1));
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Rng.pick on an empty list');
    return items[Math.floor(this.gen() * items.length)];
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.gen();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.gen());
  }
}

/** A stable 32-bit hash of a string (FNV-1a), for deterministic per-key randomness. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
