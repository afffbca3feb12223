import type * as TF from '@tensorflow/tfjs';

/**
 * The receptive fields of a stride-1 convolution as a matrix [pixels, kh·kw·cin], in the kernel's
 * own (dy, dx, channel) order, so that convolving is one product with the kernel reshaped to
 * (kh·kw·cin) × cout. 'same' padding puts the odd pixel last, as TensorFlow does. The calibration
 * of convolution layers (SparseGPT and GPTQ Gram matrices) reads these rows.
 */
export function im2col(tf: typeof TF, x: TF.Tensor4D, kh: number, kw: number, padding: 'same' | 'valid'): TF.Tensor2D {
  const [, H, W, C] = x.shape;
  const padded = padding === 'same' ? x.pad([[0, 0], [Math.floor((kh - 1) / 2), Math.ceil((kh - 1) / 2)], [Math.floor((kw - 1) / 2), Math.ceil((kw - 1) / 2)], [0, 0]]) : x;
  const outH = padding === 'same' ? H : H - kh + 1;
  const outW = padding === 'same' ? W : W - kw + 1;
  const shifted: TF.Tensor4D[] = [];
  for (let dy = 0; dy < kh; dy++) for (let dx = 0; dx < kw; dx++) shifted.push(padded.slice([0, dy, dx, 0], [-1, outH, outW, C]) as TF.Tensor4D);
  return tf.concat(shifted, 3).reshape([-1, kh * kw * C]);
}
