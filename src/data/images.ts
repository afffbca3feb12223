import { readFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { UserError } from '../errors.js';

/** An RGB image, row-major [height × width × 3], channel values 0..255 as float32. */
export interface RgbImage {
  width: number;
  height: number;
  data: Float32Array;
}

/** Decodes a PNG file (any bit depth and colour type pngjs reads); alpha is dropped. */
export function readPng(file: string): RgbImage {
  let png: PNG;
  try {
    png = PNG.sync.read(readFileSync(file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`${file}: ${code ? `cannot read (${code})` : `not a decodable PNG image (${(err as Error).message.split('\n')[0]})`}`);
  }
  const data = new Float32Array(png.width * png.height * 3);
  for (let i = 0; i < png.width * png.height; i++) for (let c = 0; c < 3; c++) data[i * 3 + c] = png.data[i * 4 + c];
  return { width: png.width, height: png.height, data };
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
