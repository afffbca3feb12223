/**
 * A character-level tokenizer: the reference language model is small (1–5M parameters), and a
 * vocabulary of about a hundred symbols keeps its embedding a one-hot matmul that the tfjs wasm
 * backend can differentiate. Characters rarer than `minCount` in the training text share id 0.
 */
export class CharTokenizer {
  static readonly UNKNOWN = 0;
  private readonly ids: Map<string, number>;

  constructor(readonly symbols: string[]) {
    this.ids = new Map(symbols.map((s, i) => [s, i + 1]));
  }

  /** Builds the vocabulary from training text: symbols sorted by code point, so it is deterministic. */
  static fit(texts: Iterable<string>, minCount = 5): CharTokenizer {
    const counts = new Map<string, number>();
    for (const text of texts) for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    const symbols = [...counts].filter(([, n]) => n >= minCount).map(([ch]) => ch);
    symbols.sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
    return new CharTokenizer(symbols);
  }

  get vocabSize(): number {
    return this.symbols.length + 1;
  }

  encode(text: string): Uint16Array {
    // A character is one or two UTF-16 units, so text.length bounds the count: no growing JS array (the corpus is 10M characters).
    const out = new Uint16Array(text.length);
    let n = 0;
    for (const ch of text) out[n++] = this.ids.get(ch) ?? CharTokenizer.UNKNOWN;
    return out.slice(0, n);
  }

  decode(ids: ArrayLike<number>): string {
    let out = '';
    for (let i = 0; i < ids.length; i++) out += ids[i] === CharTokenizer.UNKNOWN ? '\uFFFD' : this.symbols[ids[i] - 1];
    return out;
  }

  /** What a model directory stores next to its weights (tokenizer.json). */
  toJSON(): { type: 'char'; symbols: string[] } {
    return { type: 'char', symbols: this.symbols };
  }
}
