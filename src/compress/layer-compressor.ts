import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { Gemm } from '../runtime/gemm.js';
import { compressLayer, type LayerLevels } from './levels.js';
import type { LayerTask } from './layer-worker.js';

/** Compresses layers, each on one thread; `threads` at once. */
export interface LayerCompressor {
  readonly threads: number;
  compress(task: LayerTask): Promise<LayerLevels>;
  close(): Promise<void>;
}

/**
 * `threads` worker threads (piscina), each compressing one layer at a time with products on a
 * thread of its own, or this thread alone when `threads` is 1. Every layer is computed the same
 * way either way, so a database's bytes do not depend on the thread count.
 */
export function layerCompressor(threads: number): LayerCompressor {
  const worker = new URL('./layer-worker.js', import.meta.url);
  // Run from the TypeScript sources (vitest) there is no compiled worker to start: this thread does the work.
  if (threads > 1 && existsSync(fileURLToPath(worker))) {
    const pool = new Piscina<LayerTask, LayerLevels>({ filename: worker.href, minThreads: threads, maxThreads: threads });
    return {
      threads,
      // The copies made for the task move to the worker instead of being copied again.
      compress: (task) => pool.run(task, { transferList: [task.weight.buffer, ...(task.gram ? [task.gram.data.buffer] : [])] as ArrayBuffer[] }),
      close: () => pool.destroy(),
    };
  }
  const gemm = new Gemm(1);
  return {
    threads: 1,
    compress: (task) => compressLayer(task.weight, task.layer, task.compression, task.gram, task.step, gemm),
    close: () => gemm.close(),
  };
}
