import { createHash } from 'node:crypto';
import { HELD_OUT_FROM, loadAddresses, splitByYear } from './corpus.js';
import { evaluationWindows, windowsBetween } from './windows.js';

/** Token ids of the training-era addresses (calibration) and of the held-out recent ones (evaluation). */
export interface TextStreams {
  calibration: Uint16Array;
  heldOut: Uint16Array;
}

/** The State of the Union text under a tokenizer, addresses joined by blank lines as in training. */
export function sotuStreams(encode: (text: string) => Uint16Array): TextStreams {
  const { train, heldOut } = splitByYear(loadAddresses());
  const join = (texts: { text: string }[]) => encode(texts.map((a) => a.text).join('\n\n'));
  return { calibration: join(train), heldOut: join(heldOut) };
}

/** Students learn from the addresses before this year and are scored on those from it until {@link HELD_OUT_FROM}. */
export const DISTILL_CALIBRATION_FROM = 2001;

/** Text for distilling students: training, calibration (2001–2010, which no student trains on) and the held-out years. */
export interface DistillStreams {
  train: Uint16Array;
  calibration: Uint16Array;
  heldOut: Uint16Array;
}

export function distillStreams(encode: (text: string) => Uint16Array): DistillStreams {
  const addresses = loadAddresses();
  const join = (from: number, to: number) => encode(addresses.filter((a) => a.year >= from && a.year < to).map((a) => a.text).join('\n\n'));
  return { train: join(-Infinity, DISTILL_CALIBRATION_FROM), calibration: join(DISTILL_CALIBRATION_FROM, HELD_OUT_FROM), heldOut: join(HELD_OUT_FROM, Infinity) };
}

/**
 * `count` evenly spaced windows of `length` + 1 tokens (inputs plus next-token labels): the same
 * spread that training used for its held-out measurement.
 */
export function windowsOf(ids: Uint16Array, length: number, count: number): Uint16Array[] {
  const starts = evaluationWindows(ids.length, length, count);
  if (starts.length < count) throw new Error(`the text has room for only ${starts.length} windows of ${length + 1} tokens, ${count} asked`);
  return starts.map((s) => ids.subarray(s, s + length + 1));
}

/**
 * A language-model fitness's calibration pool: the `searchCount` evenly spaced windows of
 * {@link windowsOf} (what the search reads, unchanged by validation), then `validationCount`
 * windows in the gaps between them, which share no token with any search window.
 */
export function calibrationWindows(ids: Uint16Array, length: number, searchCount: number, validationCount: number): Uint16Array[] {
  const search = windowsOf(ids, length, searchCount);
  const validation = windowsBetween(ids.length, length, searchCount, validationCount).map((s) => ids.subarray(s, s + length + 1));
  return [...search, ...validation];
}

/** sha256 of calibration samples (token windows, image patches): what a database records it was calibrated on. */
export function windowsHash(windows: ArrayBufferView[]): string {
  const h = createHash('sha256');
  for (const w of windows) h.update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
  return h.digest('hex');
}
