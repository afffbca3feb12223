import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { UserError } from '../errors.js';

/** An RGB image, row-major [height × width × 3], channel values 0..255 as float32. */
export interface RgbImage {
  width: number;
  height: number;
  data: Float32Array;
}

/** Decodes a PNG or JPEG file (by extension); alpha is dropped. */
export function readImage(file: string): RgbImage {
  const kind = /^\.jpe?g$/i.test(extname(file)) ? 'JPEG' : 'PNG';
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new UserError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code})`);
  }
  let rgba: { width: number; height: number; data: Uint8Array };
  try {
    rgba = kind === 'PNG' ? PNG.sync.read(bytes) : jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
  } catch (err) {
    throw new UserError(`${file}: not a decodable ${kind} image (${(err as Error).message.split('\n')[0]})`);
  }
  const data = new Float32Array(rgba.width * rgba.height * 3);
  for (let i = 0; i < rgba.width * rgba.height; i++) for (let c = 0; c < 3; c++) data[i * 3 + c] = rgba.data[i * 4 + c];
  return { width: rgba.width, height: rgba.height, data };
}

/** What saving as an 8-bit image does to a model's output: clip to 0..255 and round. */
export function to8Bit(values: Float32Array): Float32Array {
  return values.map((v) => Math.round(Math.min(255, Math.max(0, v))));
}

/** Peak signal-to-noise ratio in dB of `actual` against `reference` (peak 255); Infinity when equal. */
export function psnr(actual: ArrayLike<number>, reference: ArrayLike<number>, peak = 255): number {
  if (actual.length !== reference.length) throw new Error(`psnr: ${actual.length} values against ${reference.length}`);
  let se = 0;
  for (let i = 0; i < actual.length; i++) se += (actual[i] - reference[i]) ** 2;
  return 10 * Math.log10((peak * peak) / (se / actual.length));
}

/** Halves an image by averaging 2 × 2 blocks (an odd last row or column is dropped). */
export function halve(image: RgbImage): RgbImage {
  const width = image.width >> 1;
  const height = image.height >> 1;
  const data = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        const at = (yy: number, xx: number) => image.data[(yy * image.width + xx) * 3 + c];
        data[(y * width + x) * 3 + c] = (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4;
      }
    }
  }
  return { width, height, data };
}

/** A size × size crop at (x, y). */
export function crop(image: RgbImage, x: number, y: number, size: number): Float32Array {
  const out = new Float32Array(size * size * 3);
  for (let row = 0; row < size; row++) out.set(image.data.subarray(((y + row) * image.width + x) * 3, ((y + row) * image.width + x + size) * 3), row * size * 3);
  return out;
}
