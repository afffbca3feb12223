import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { UserError } from '../errors.js';

/**
 * Fashion-MNIST (Zalando, MIT licence), offline from Debian's `dataset-fashion-mnist` package:
 * 70,000 grey 28 × 28 pictures of ten kinds of clothing, as the original IDX files. Splits, the same
 * on every machine: the first 55,000 training pictures train, the last 5,000 are the calibration
 * split (what a search scores on; never trained on), and the official 10,000-picture test set is
 * held out. `EVOSEARCH_FASHION_MNIST` points elsewhere for a copy not installed by Debian.
 */
export interface Pictures {
  /** [count × 784], row-major 28 × 28 grey levels in [0, 1]. */
  images: Float32Array;
  labels: Uint8Array;
  count: number;
}

export type PictureSplit = 'train' | 'calibration' | 'heldOut';

export const PICTURE_SIZE = 28 * 28;
const TRAIN_COUNT = 55_000;
/** Pictures in the calibration split: the last 5,000 of Fashion-MNIST's 60,000 training pictures. */
export const CALIBRATION_COUNT = 5_000;

export function fashionDir(): string {
  return process.env.EVOSEARCH_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist';
}

const cache = new Map<string, Pictures>();

export function loadPictures(split: PictureSplit): Pictures {
  const key = `${fashionDir()}:${split}`;
  let pictures = cache.get(key);
  if (!pictures) {
    const file = split === 'heldOut' ? 't10k' : 'train';
    const all = { images: readIdx(file, 'images', 3), labels: readIdx(file, 'labels', 1) };
    const [from, to] = split === 'train' ? [0, TRAIN_COUNT] : split === 'calibration' ? [TRAIN_COUNT, all.labels.length] : [0, all.labels.length];
    const images = new Float32Array((to - from) * PICTURE_SIZE);
    const pixels = all.images.subarray(from * PICTURE_SIZE, to * PICTURE_SIZE);
    for (let i = 0; i < images.length; i++) images[i] = pixels[i] / 255;
    pictures = { images, labels: all.labels.slice(from, to), count: to - from };
    cache.set(key, pictures);
  }
  return pictures;
}

/** One IDX file's payload (unsigned bytes), its header checked: images [n, 28, 28] or labels [n]. */
function readIdx(set: 'train' | 't10k', kind: 'images' | 'labels', dims: number): Uint8Array {
  const path = join(fashionDir(), `${set}-${kind}-idx${dims}-ubyte.gz`);
  if (!existsSync(path)) {
    throw new UserError(`${path}: not found: Fashion-MNIST comes from Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist), or set EVOSEARCH_FASHION_MNIST to a directory holding its four .gz files`);
  }
  let bytes: Buffer;
  try {
    bytes = gunzipSync(readFileSync(path));
  } catch (e) {
    throw new UserError(`${path}: not a gzip file (${(e as Error).message})`);
  }
  const magic = bytes.length >= 4 ? bytes.readUInt32BE(0) : -1;
  if (magic !== 0x800 + dims) throw new UserError(`${path}: not an IDX file of unsigned bytes with ${dims} dimension(s)`);
  const shape = Array.from({ length: dims }, (_, d) => bytes.readUInt32BE(4 + 4 * d));
  if (dims === 3 && (shape[1] !== 28 || shape[2] !== 28)) throw new UserError(`${path}: pictures are ${shape[1]} × ${shape[2]}, expected 28 × 28`);
  const header = 4 + 4 * dims;
  const size = shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== header + size) throw new UserError(`${path}: ${bytes.length - header} bytes of data, its header says ${size}`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset + header, size);
}

/** Whether a model's input shape (without the batch axis) takes these pictures: [784] or [28, 28, 1]. */
export function isPictureInput(shape: (number | null)[]): boolean {
  return shape.join(',') === '784' || shape.join(',') === '28,28,1';
}
