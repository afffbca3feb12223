/**
 * A map that keeps its most recently used entries within a byte budget (at least one entry, however
 * large). Workers cache what is expensive to recompute or re-read this way: the level tensors
 * read from a database and the dense model's outputs per calibration sample.
 */
export class ByteLru<K, V> {
  private readonly entries = new Map<K, { value: V; bytes: number }>();
  private total = 0;

  constructor(private readonly capacity: number) {}

  get(key: K): V | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    this.entries.delete(key); // Map order is insertion order: re-inserting marks it most recent
    this.entries.set(key, hit);
    return hit.value;
  }

  set(key: K, value: V, bytes: number): void {
    const old = this.entries.get(key);
    if (old) this.total -= old.bytes;
    this.entries.delete(key);
    this.entries.set(key, { value, bytes });
    this.total += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.total <= this.capacity || this.entries.size === 1) break;
      this.entries.delete(oldest);
      this.total -= entry.bytes;
    }
  }

  get bytes(): number {
    return this.total;
  }
}
