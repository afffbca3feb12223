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
    if (device === 'cuda') {
      throw new UserError(
        `device cuda: onnxruntime-node could not start the cuda execution provider (${message}); ` +
          `install its binaries with ONNXRUNTIME_NODE_INSTALL=cuda12 npm install (needs network), or use --device cpu`,
      );
    }
    if (device === 'webgpu') throw new UserError(`device webgpu: ${webgpuAdvice(message)}`);
    throw new UserError(`onnxruntime could not load the model: ${message}`);
  }
}

/**
 * onnxruntime-node 1.30 ships its WebGPU provider (Dawn) in the npm package itself: there is
 * nothing to install (ONNXRUNTIME_NODE_INSTALL fetches CUDA only). What fails is the machine: on
 * Linux Dawn reaches the GPU through Vulkan, so it needs a GPU and its Vulkan driver
 * (libvulkan.so.1). A build without the provider says so.
 */
function webgpuAdvice(message: string): string {
  if (/adapter/i.test(message)) {
    const reason = /Failed to get a WebGPU adapter[^\n]*/.exec(message)?.[0] ?? message;
    return `onnxruntime-node found no WebGPU adapter on this machine (${reason}): its WebGPU reaches the GPU through Vulkan on Linux, so it needs a GPU and its Vulkan driver (libvulkan.so.1); use --device cpu`;
  }
  if (/backend not found|not supported|webgpu.*not/i.test(message)) return `this onnxruntime-node build has no WebGPU execution provider (${message}); use --device cpu`;
  return `onnxruntime-node could not start the webgpu execution provider (${message}); use --device cpu`;
}

export function floatTensor(data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

export { ort };
