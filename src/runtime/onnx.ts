import ort from 'onnxruntime-node';
import { UserError } from '../errors.js';

export type Device = 'cpu' | 'cuda' | 'webgpu';

// onnxruntime's own logger would print a multi-line native error first; ours says it in one line.
ort.env.logLevel = 'fatal';

/**
 * An onnxruntime session for evaluation: one per worker, single-threaded, because the pool
 * already puts one worker on each core. A GPU provider that this onnxruntime install lacks is a
 * one-line error that says how to get it, never a silent fall-back to the CPU.
 */
export async function createSession(model: Uint8Array, device: Device = 'cpu'): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(model, {
      executionProviders: [device],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      logSeverityLevel: 4, // our own one-line error says what failed
    });
  } catch (err) {
    const message = (err as Error).message.split('\n')[0];
    if (device !== 'cpu') {
      throw new UserError(
        `device ${device}: onnxruntime-node could not start the ${device} execution provider (${message}); ` +
          `install its binaries with ONNXRUNTIME_NODE_INSTALL=cuda12 npm install (needs network), or use --device cpu`,
      );
    }
    throw new UserError(`onnxruntime could not load the model: ${message}`);
  }
}

export function floatTensor(data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

export { ort };
