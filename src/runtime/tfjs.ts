import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs';

const require = createRequire(import.meta.url);

/**
 * TensorFlow.js for training and the `tfjs` backend: @tensorflow/tfjs-node-gpu or tfjs-node when
 * the user installed one (native TensorFlow, CUDA for the GPU package), else the wasm backend
 * (SIMD), else plain JS. The umbrella `@tensorflow/tfjs` import matters: it registers gradients,
 * which tfjs-core alone does not. Absent optional packages are skipped silently.
 */
export async function initTensorflow(): Promise<{ tf: typeof tf; backend: string }> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
      if (await tf.setBackend('tensorflow')) return { tf, backend: `tensorflow (${pkg})` };
    } catch {
      // not installed, or its native library failed to load: try the next one
    }
  }
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/');
    if (await tf.setBackend('wasm')) {
      await tf.ready();
      return { tf, backend: 'wasm' };
    }
  } catch {
    // fall through to the cpu backend
  }
  await tf.setBackend('cpu');
  return { tf, backend: 'cpu' };
}

type Tensor = tf.Tensor;

/** Swaps the last two axes. */
const transposeLast = (x: Tensor) => x.transpose(x.rank === 2 ? [1, 0] : [...Array.from({ length: x.rank - 2 }, (_, i) => i), x.rank - 1, x.rank - 2]);

/**
 * Matrix product with a hand-written gradient, for training on the wasm backend: tfjs runs matMul
 * with its transpose flags about 12× slower there than an explicit transpose and a plain matMul
 * (measured: 126 ms against 11 ms for 2048×640 · (160×640)ᵀ), and the built-in gradient uses the flags.
 */
export const trainingMatmul = tf.customGrad(((a: Tensor, b: Tensor, save: (tensors: Tensor[]) => void) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: Tensor, [x, y]: Tensor[]) => [tf.matMul(dy, transposeLast(y)), tf.matMul(transposeLast(x), dy)],
  };
}) as never) as (a: Tensor, b: Tensor) => Tensor;

/**
 * A stride-1 'same' convolution (odd square kernel [k, k, cin, cout]) with a hand-written
 * gradient, for training on the wasm backend, which has no filter gradient and a slow input
 * gradient. Both gradients are forward convolutions, which wasm runs fast: the input gradient
 * convolves the output gradient with the kernel flipped in space and transposed in channels; the
 * filter gradient convolves the padded input, batch and channel axes swapped, with the output
 * gradient as the filter ('valid'). Measured on a training step of a CNN student (batch 32,
 * channels 4/8, 3 × 3): 9.6 ms, against 48 ms through im2col and one product.
 */
export const trainingConv2dSame = tf.customGrad(((x: tf.Tensor4D, kernel: tf.Tensor4D, save: (tensors: Tensor[]) => void) => {
  save([x, kernel]);
  return {
    value: tf.conv2d(x, kernel, 1, 'same'),
    gradFunc: (dy: tf.Tensor4D, [input, w]: Tensor[]) => {
      const pad = (w.shape[0] - 1) / 2;
      const dx = tf.conv2d(dy, w.reverse([0, 1]).transpose([0, 1, 3, 2]) as tf.Tensor4D, 1, 'same');
      const fields = input.pad([[0, 0], [pad, pad], [pad, pad], [0, 0]]).transpose([3, 1, 2, 0]) as tf.Tensor4D;
      const dw = tf.conv2d(fields, dy.transpose([1, 2, 0, 3]) as tf.Tensor4D, 1, 'valid').transpose([1, 2, 0, 3]);
      return [dx, dw];
    },
  };
}) as never) as (x: tf.Tensor4D, kernel: tf.Tensor4D) => tf.Tensor4D;
