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
