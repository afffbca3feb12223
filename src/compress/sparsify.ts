import type { Gemm } from '../runtime/gemm.js';
import { matrix, transpose, type Matrix } from './linalg.js';
import { compensatedSweep } from './sweep.js';

/**
 * Unstructured pruning of a weight matrix W [outputs × inputs] to exactly `count` zeros, so that a
 * level database can step every layer by the same number of weights. Each method returns a new
 * matrix. Ties break by position, so a database rebuilds bit for bit.
 */

/** Zeroes the `count` entries of smallest |w| in the whole layer. */
export function magnitudePrune(w: Matrix, count: number): Matrix {
  const out = matrix(w.rows, w.cols, Float64Array.from(w.data));
  for (const i of smallest(w.data.map(Math.abs), count)) out.data[i] = 0;
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
    for (const c of smallest(Float64Array.from({ length: w.cols }, (_, c) => Math.abs(w.data[offset + c]) * inputNorms[c]), k)) out.data[offset + c] = 0;
  }
  return out;
}

/**
 * SparseGPT (Frantar & Alistarh 2023): columns are pruned left to right and each pruning error is
 * compensated on the columns not yet processed, through U, the upper Cholesky factor of the damped
 * inverse Hessian ({@link inverseHessianFactor}). The mask is chosen per block of `blockSize`
 * columns, when the block starts, by the OBS saliency w²/U_jj² over the whole block; blocks take
 * zeros in proportion to their width so that the layer ends with exactly `count`. The
 * compensation is lazy, as in the reference code ({@link compensatedSweep}).
 */
export async function sparseGptPrune(w: Matrix, u: Matrix, count: number, gemm: Gemm, blockSize = 128): Promise<Matrix> {
  const { rows, cols } = w;
  // Wᵀ: a column of W is a contiguous row, and the columns after a block are one contiguous range.
  const wt = transpose(w);
  const W = wt.data;
  const U = u.data;
  const pruned = new Uint8Array(rows * cols); // Wᵀ's layout
  await compensatedSweep(wt, u, gemm, blockSize, {
    startBlock(start, end) {
      const width = end - start;
      const k = Math.round((count * end) / cols) - Math.round((count * start) / cols);
      // Saliency in Wᵀ's layout (index c·rows + r); equal ones break ties in W's order, row r before column c.
      const saliency = new Float64Array(rows * width);
      for (let c = 0; c < width; c++) {
        const d = U[(start + c) * cols + start + c];
        for (let r = 0, at = (start + c) * rows; r < rows; r++) saliency[c * rows + r] = (W[at + r] / d) ** 2;
      }
      for (const i of smallest(saliency, k, (i) => (i % rows) * width + Math.floor(i / rows))) pruned[start * rows + i] = 1;
    },
    column(col, errors) {
      const d = U[col * cols + col];
      let any = false;
      for (let r = col * rows, e = 0; e < rows; r++, e++) {
        if (!pruned[r]) continue;
        errors[e] = W[r] / d;
        W[r] = 0;
        any = true;
      }
      return any;
    },
  });
  // Compensation never touches a pruned entry after its own column, but keep the zeros exact.
  for (let i = 0; i < W.length; i++) if (pruned[i]) W[i] = 0;
  return transpose(wt);
}

/**
 * Indices of the `k` smallest scores, in increasing index order. Among scores equal to the k-th
 * smallest, those of least `tieOrder` (default: the index) are taken. The k-th smallest is found
 * by selection in linear time: a comparator sort of the indices took a third of a SparseGPT build.
 */
export function smallest(scores: Float64Array, k: number, tieOrder: (i: number) => number = (i) => i): Int32Array {
  const n = scores.length;
  if (k <= 0) return new Int32Array(0);
  if (k >= n) return Int32Array.from({ length: n }, (_, i) => i);
  const kth = kthSmallest(Float64Array.from(scores), k - 1);
  const ties: number[] = [];
  let below = 0;
  for (let i = 0; i < n; i++) {
    if (scores[i] < kth) below++;
    else if (scores[i] === kth) ties.push(i);
  }
  const tied = new Set(ties.sort((a, b) => tieOrder(a) - tieOrder(b)).slice(0, k - below));
  const out = new Int32Array(k);
  let taken = 0;
  for (let i = 0; i < n; i++) if (scores[i] < kth || (scores[i] === kth && tied.has(i))) out[taken++] = i;
  return out;
}

/** The value at sorted position `k` of `a` (reordered in place): Hoare's selection, median-of-three pivots. */
function kthSmallest(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // Median of three as the pivot: sorted input stays linear.
    if (a[mid] < a[lo]) swap(a, mid, lo);
    if (a[hi] < a[lo]) swap(a, hi, lo);
    if (a[hi] < a[mid]) swap(a, hi, mid);
    const pivot = a[mid];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) swap(a, i++, j--);
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}
