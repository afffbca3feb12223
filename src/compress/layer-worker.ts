import { Gemm } from '../runtime/gemm.js';
import type { Compression } from './config.js';
import type { Matrix } from './linalg.js';
import { compressLayer, type LayerLevels } from './levels.js';
import type { CompressibleLayer } from './targets.js';

/** One layer to compress: everything {@link compressLayer} reads. */
export interface LayerTask {
  layer: CompressibleLayer;
  weight: Float32Array;
  compression: Compression;
  gram: Matrix | null;
  step: number;
}

// Each worker thread multiplies on one thread of its own: a build runs one worker per core.
const gemm = new Gemm(1);

/** The piscina task of a build's worker threads (layer-compressor.ts). */
export default function compressTask(task: LayerTask): Promise<LayerLevels> {
  return compressLayer(task.weight, task.layer, task.compression, task.gram, task.step, gemm);
}
