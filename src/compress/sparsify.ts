import type { Matrix } from './linalg.js';
import { matrix } from './linalg.js';

/**
 * Unstructured pruning of a weight matrix W [outputs × inputs] to exactly `count` zeros, so that a
 * level database can step every layer by the same number of weights. Each method returns a new
 * matrix. Ties break by position, so a database rebuilds bit for bit.
 */

/** Zeroes the `count` entries of smallest |w| in the whole layer. */
export function magnitudePrune(w: Matrix, count: number): Matrix {
  const out = matrix(w.rows, w.cols, Float64Array.from(w.data));
  for (const i of smallest(w.data.length, count, (i) => Math.abs(w.data[i]))) out.data[i] = 0;
  return out;
}

/**
 * Wanda (Sun et al. 2023): score |w_ij|·‖X_j‖ with ‖X_j‖ the norm of input channel j over the
 * calibration tokens, pruned per output row as the paper does; rows take ⌊count/rows⌋ zeros and
 * the first count mod rows one more.
 */
export function wandaPrune(w: Matrix, inputNorms: Float64Array, count: number): Matrix {
  const out = matrix(w.rows, w.cols, Float64Array.from(w.data));
  const base = Math.floor(count / w.rows);
  for (let r = 0; r < w.rows; r++) {
    const k = base + (r < count % w.rows ? 1 : 0);
    const offset = r * w.cols;
    for (const c of smallest(w.cols, k, (c) => Math.abs(w.data[offset + c]) * inputNorms[c])) out.data[offset + c] = 0;
  }
  return out;
}

/**
 * SparseGPT (Frantar & Alistarh 2023): columns are pruned left to right and each pruning error is
 * compensated on the columns not yet processed, through U, the upper Cholesky factor of the damped
 * inverse Hessian ({@link inverseHessianFactor}). The mask is chosen per block of `blockSize`
 * columns, when the block starts, by the OBS saliency w²/U_jj² over the whole block; blocks take
 * zeros in proportion to their width so that the layer ends with exactly `count`.
 */
export function sparseGptPrune(w: Matrix, u: Matrix, count: number, blockSize = 128): Matrix {
  const { rows, cols } = w;
  const W = Float64Array.from(w.data);
  const U = u.data;
  const pruned = new Uint8Array(rows * cols);
  for (let start = 0; start < cols; start += blockSize) {
    const end = Math.min(cols, start + blockSize);
    const width = end - start;
    const k = Math.round((count * end) / cols) - Math.round((count * start) / cols);
    const saliency = (i: number) => {
      const r = Math.floor(i / width);
      const c = start + (i % width);
      return (W[r * cols + c] / U[c * cols + c]) ** 2;
    };
    for (const i of smallest(rows * width, k, saliency)) pruned[Math.floor(i / width) * cols + start + (i % width)] = 1;
    for (let c = start; c < end; c++) {
      const d = U[c * cols + c];
      for (let r = 0; r < rows; r++) {
        const at = r * cols + c;
        if (!pruned[at]) continue;
        const err = W[at] / d;
        W[at] = 0;
        for (let j = c + 1; j < cols; j++) W[r * cols + j] -= err * U[c * cols + j];
      }
    }
  }
  // Compensation never touches a pruned entry after its own column, but keep the zeros exact.
  for (let i = 0; i < W.length; i++) if (pruned[i]) W[i] = 0;
  return matrix(rows, cols, W);
}

/** Indices 0..n-1 of the `k` smallest scores (ties: lower index first). */
function smallest(n: number, k: number, score: (i: number) => number): Int32Array {
  if (k <= 0) return new Int32Array(0);
  const scores = new Float64Array(n);
  for (let i = 0; i < n; i++) scores[i] = score(i);
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b] || a - b);
  return order.subarray(0, Math.min(k, n));
}
