import { describe, expect, it } from 'vitest';
import { loadAddresses, splitByYear, corpusHash, HELD_OUT_FROM } from '../src/data/corpus.js';
import { CharTokenizer } from '../src/data/char-tokenizer.js';

describe('State of the Union corpus', () => {
  const addresses = loadAddresses();
  const { train, heldOut } = splitByYear(addresses);

  it('has all 233 addresses, in time order, split by year with nothing shared', () => {
    expect(addresses).toHaveLength(233);
    for (let i = 1; i < addresses.length; i++) expect(addresses[i].year).toBeGreaterThanOrEqual(addresses[i - 1].year);
    expect(train.length + heldOut.length).toBe(233);
    expect(Math.max(...train.map((a) => a.year))).toBeLessThan(HELD_OUT_FROM);
    expect(Math.min(...heldOut.map((a) => a.year))).toBeGreaterThanOrEqual(HELD_OUT_FROM);
    expect(heldOut.length).toBeGreaterThanOrEqual(8);
    const words = (xs: typeof addresses) => xs.reduce((s, a) => s + a.text.split(/\s+/).length, 0);
    expect(words(addresses)).toBeGreaterThan(1_700_000);
    expect(words(heldOut) / words(addresses)).toBeGreaterThan(0.02);
  });

  it('fingerprints the split stably, and differently per part', () => {
    expect(corpusHash(train)).toBe(corpusHash(splitByYear(loadAddresses()).train));
    expect(corpusHash(train)).not.toBe(corpusHash(heldOut));
  });

  it('a character vocabulary fitted on the training text round-trips held-out text', () => {
    const tokenizer = CharTokenizer.fit(train.map((a) => a.text));
    expect(tokenizer.vocabSize).toBeGreaterThan(60);
    expect(tokenizer.vocabSize).toBeLessThan(120);
    const text = heldOut[0].text.slice(0, 5000);
    const ids = tokenizer.encode(text);
    const unknown = ids.filter((id) => id === CharTokenizer.UNKNOWN).length;
    expect(unknown / ids.length).toBeLessThan(0.001);
    // Known characters come back as they were, unknown ones (if any) as U+FFFD, one for one.
    const known = new Set(tokenizer.symbols);
    const chars = Array.from(text);
    expect(chars.filter((ch) => !known.has(ch))).toHaveLength(unknown);
    expect(tokenizer.decode(ids)).toBe(chars.map((ch) => (known.has(ch) ? ch : '\uFFFD')).join(''));
    const knownOnly = chars.filter((ch) => known.has(ch)).join('');
    expect(knownOnly.length).toBeGreaterThan(4900);
    expect(tokenizer.decode(tokenizer.encode(knownOnly))).toBe(knownOnly);
    expect(tokenizer.encode('\u4e2d')).toEqual(Uint16Array.from([CharTokenizer.UNKNOWN]));
    expect(new CharTokenizer(tokenizer.toJSON().symbols).encode(text)).toEqual(ids);
  });
});
