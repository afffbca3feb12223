import { UserError } from '../errors.js';
import type { Gemm } from '../runtime/gemm.js';
import { inverseHessianFactor, matrix, type Matrix } from './linalg.js';
import type { CompressibleLayer } from './targets.js';
import { magnitudePrune, sparseGptPrune, wandaPrune } from './sparsify.js';
import { gptqQuantize, rtnQuantize } from './quantize.js';
import type { DatabaseConfig, Compression } from './config.js';
import type { UnitEntry } from './manifest.js';

/** The levels of each compression method, per layer: the tensors a level database stores. */

/** How a layer's weight is stored: enough to turn it to [out × in] and back. */
type LayerLayout = Pick<CompressibleLayer, 'inFeatures' | 'outFeatures' | 'layout'>;

/** A layer's unit name: its weight's name without ".weight" or "/kernel". */
export const unitName = (layer: CompressibleLayer) => layer.weight.replace(/[./](weight|kernel)$/, '');

export function selectLayers(layers: CompressibleLayer[], config: DatabaseConfig): CompressibleLayer[] {
  if (!config.units) return layers;
  const unknown = config.units.filter((name) => !layers.some((l) => unitName(l) === name));
  if (unknown.length) throw new UserError(`${config.source}: units: no compressible layer named ${unknown.map((u) => `"${u}"`).join(', ')} (layers: ${layers.map(unitName).join(', ')})`);
  return layers.filter((l) => config.units!.includes(unitName(l)));
}

/** A weight in HF layout → float64 [out × in], the orientation every compression method works in. */
export function asRowsOut(data: Float32Array, layer: LayerLayout): Matrix {
  const { inFeatures: n, outFeatures: m } = layer;
  const out = matrix(m, n);
  if (layer.layout === 'outIn') out.data.set(data);
  else for (let i = 0; i < n; i++) for (let o = 0; o < m; o++) out.data[o * n + i] = data[i * m + o];
  return out;
}

/** The inverse of {@link asRowsOut}: back to the layer's own layout, as float32. */
export function fromRowsOut(w: Matrix, layer: LayerLayout): Float32Array {
  const { inFeatures: n, outFeatures: m } = layer;
  if (layer.layout === 'outIn') return Float32Array.from(w.data);
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) for (let o = 0; o < m; o++) out[i * m + o] = w.data[o * n + i];
  return out;
}

/** What compressing a layer gives: its manifest entry, the tensors of its stored levels, the level nearest the target. */
export interface LayerLevels {
  entry: UnitEntry;
  tensors: { level: number; data: Float32Array }[];
  uniformLevel: number;
}

/** A layer's levels from its weight (in the layer's own layout); SparseGPT and GPTQ run their products on `gemm`. */
export async function compressLayer(weight: Float32Array, layer: CompressibleLayer, c: Compression, gram: Matrix | null, step: number, gemm: Gemm): Promise<LayerLevels> {
  const numel = layer.inFeatures * layer.outFeatures;
  const w = asRowsOut(weight, layer);
  const entry: UnitEntry = { name: unitName(layer), weights: [layer.weight], parameters: numel, file: null, sha256: null, levels: [] };
  const tensors: { level: number; data: Float32Array }[] = [];
  let uniformLevel = 0;
  const factor = () => inverseHessianFactor(gram!, c.type === 'drop' ? 0 : c.damping, gemm);
  if (c.type === 'sparsity') {
    const centre = Math.round(c.target * numel);
    const u = c.method === 'sparsegpt' ? await factor() : null;
    const norms = c.method === 'wanda' ? Float64Array.from({ length: layer.inFeatures }, (_, j) => Math.sqrt(gram!.data[j * layer.inFeatures + j])) : null;
    for (let k = -c.stepsEachSide; k <= c.stepsEachSide; k++) {
      const pruned = centre + k * step;
      if (pruned < 0 || pruned > numel) continue;
      if (k === 0) uniformLevel = entry.levels.length;
      const level = entry.levels.length;
      if (pruned === 0) {
        entry.levels.push({ value: 0, cost: numel, method: 'dense', tensors: 'dense' });
        continue;
      }
      const result = c.method === 'magnitude' ? magnitudePrune(w, pruned) : c.method === 'wanda' ? wandaPrune(w, norms!, pruned) : await sparseGptPrune(w, u!, pruned, gemm, c.blockSize);
      const data = fromRowsOut(result, layer);
      let zeros = 0;
      for (const x of data) if (x === 0) zeros++;
      entry.levels.push({ value: zeros / numel, cost: numel - zeros, method: c.method, tensors: 'file' });
      tensors.push({ level, data });
    }
  } else if (c.type === 'quantization') {
    const u = c.method === 'gptq' ? await factor() : null;
    const bits = [...c.bits].sort((a, b) => a - b);
    for (const b of bits) {
      const result = c.method === 'rtn' ? rtnQuantize(w, b, c.group) : await gptqQuantize(w, u!, b, c.group, gemm);
      tensors.push({ level: entry.levels.length, data: fromRowsOut(result, layer) });
      entry.levels.push({ value: b, cost: b * numel, method: c.method, tensors: 'file' });
    }
    const atTarget = bits.filter((b) => b <= c.target);
    uniformLevel = Math.max(0, bits.indexOf(atTarget[atTarget.length - 1] ?? bits[0]));
  }
  return { entry, tensors, uniformLevel };
}
