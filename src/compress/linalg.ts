import type { Dense, Gemm } from '../runtime/gemm.js';

/** A dense row-major matrix in float64: compression arithmetic accumulates too much error in float32. */
export type Matrix = Dense;

export function matrix(rows: number, cols: number, data: Float64Array = new Float64Array(rows * cols)): Matrix {
  return { rows, cols, data };
}

export function transpose(m: Matrix): Matrix {
  const t = matrix(m.cols, m.rows);
  for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) t.data[c * m.rows + r] = m.data[r * m.cols + c];
  return t;
}

/**
 * Lower-triangular L with A = L·Lᵀ; throws if A is not positive definite (naming the column,
 * counted from `offset` when A is a block of a larger matrix).
 */
export function cholesky(a: Matrix, offset = 0): Matrix {
  const n = a.rows;
  const L = matrix(n, n);
  const l = L.data;
  for (let j = 0; j < n; j++) {
    let diag = a.data[j * n + j];
    for (let k = 0; k < j; k++) diag -= l[j * n + k] * l[j * n + k];
    if (!(diag > 0)) throw new Error(`cholesky: matrix is not positive definite at column ${offset + j}`);
    const ljj = Math.sqrt(diag);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a.data[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = s / ljj;
    }
  }
  return L;
}

/** L⁻¹ of a lower-triangular L with a positive diagonal (lower triangular too), by forward substitution. */
export function lowerInverse(L: Matrix): Matrix {
  const n = L.rows;
  const inv = matrix(n, n);
  const x = inv.data;
  const l = L.data;
  for (let i = 0; i < n; i++) {
    const lii = l[i * n + i];
    x[i * n + i] = 1 / lii;
    // Row i of L⁻¹: x_ij = −(Σ_{j≤k<i} l_ik·x_kj) / l_ii, accumulated row by row so that the inner loop runs along rows.
    for (let k = 0; k < i; k++) {
      const lik = l[i * n + k];
      if (lik === 0) continue;
      for (let j = 0; j <= k; j++) x[i * n + j] -= lik * x[k * n + j];
    }
    for (let j = 0; j < i; j++) x[i * n + j] /= lii;
  }
  return inv;
}

/** Columns per block of the blocked factorisations: the blocks are factored here, the rest is products. */
const BLOCK = 128;

/** The rows r0..r1 and columns c0..c1 of m, as a matrix of their own. */
export function block(m: Matrix, r0: number, r1: number, c0: number, c1: number): Matrix {
  const out = matrix(r1 - r0, c1 - c0);
  for (let r = r0; r < r1; r++) out.data.set(m.data.subarray(r * m.cols + c0, r * m.cols + c1), (r - r0) * out.cols);
  return out;
}

/** Writes `src` into m at row r0, column c0. */
function place(m: Matrix, r0: number, c0: number, src: Matrix): void {
  for (let r = 0; r < src.rows; r++) m.data.set(src.data.subarray(r * src.cols, (r + 1) * src.cols), (r0 + r) * m.cols + c0);
}

/**
 * {@link cholesky} by blocks of 128 columns (left-looking): each block column is updated with one
 * product of what is factored so far, its diagonal block is factored here and the rest of the
 * column solved by a product with that block's inverse. The products run on onnxruntime.
 */
export async function blockedCholesky(a: Matrix, gemm: Gemm): Promise<Matrix> {
  const n = a.rows;
  if (n <= BLOCK) return cholesky(a);
  const L = matrix(n, n);
  for (let j0 = 0; j0 < n; j0 += BLOCK) {
    const j1 = Math.min(n, j0 + BLOCK);
    let column = block(a, j0, n, j0, j1);
    if (j0 > 0) column = await gemm.run(block(L, j0, n, 0, j0), block(L, j0, j1, 0, j0), { transB: true, alpha: -1, c: column });
    const diagonal = cholesky(block(column, 0, j1 - j0, 0, j1 - j0), j0);
    place(L, j0, j0, diagonal);
    if (j1 < n) place(L, j1, j0, await gemm.run(block(column, j1 - j0, n - j0, 0, j1 - j0), lowerInverse(diagonal), { transB: true }));
  }
  return L;
}

/** {@link lowerInverse} by blocks of 128 rows: row block i of L⁻¹ is −L_ii⁻¹·(L_i,<i · (L⁻¹)_<i,<i), products on onnxruntime. */
export async function blockedLowerInverse(L: Matrix, gemm: Gemm): Promise<Matrix> {
  const n = L.rows;
  if (n <= BLOCK) return lowerInverse(L);
  const X = matrix(n, n);
  for (let i0 = 0; i0 < n; i0 += BLOCK) {
    const i1 = Math.min(n, i0 + BLOCK);
    const diagonal = lowerInverse(block(L, i0, i1, i0, i1));
    place(X, i0, i0, diagonal);
    if (i0 > 0) {
      const left = await gemm.run(block(L, i0, i1, 0, i0), block(X, 0, i0, 0, i0));
      place(X, i0, 0, await gemm.run(diagonal, left, { alpha: -1 }));
    }
  }
  return X;
}

/**
 * H + λ·mean(diag H)·I, with inputs no calibration token activated (H[i][i] = 0) first set to 1:
 * the Hessian that SparseGPT and GPTQ invert, made positive definite.
 */
export function dampedHessian(hessian: Matrix, damping: number): Matrix {
  const n = hessian.rows;
  const h = matrix(n, n, Float64Array.from(hessian.data));
  let mean = 0;
  for (let i = 0; i < n; i++) mean += h.data[i * n + i];
  mean /= n;
  for (let i = 0; i < n; i++) {
    if (h.data[i * n + i] === 0) h.data[i * n + i] = 1;
    h.data[i * n + i] += damping * (mean || 1);
  }
  return h;
}

/**
 * The upper Cholesky factor U of the damped inverse Hessian ({@link dampedHessian})⁻¹ = Uᵀ·U, as
 * SparseGPT and GPTQ use it: row i of U holds, scaled by U[i][i], how the not-yet-processed columns
 * compensate the error made on column i. With P the reversal of rows and columns and
 * P·H·P = L·Lᵀ, H⁻¹ = (P·L⁻¹·P)ᵀ·(P·L⁻¹·P), and P·L⁻¹·P is upper triangular with a positive
 * diagonal: it is U (the factor is unique). One factorisation and one triangular inverse, where
 * factor, inverse and factor again would take three.
 */
export async function inverseHessianFactor(hessian: Matrix, damping: number, gemm: Gemm): Promise<Matrix> {
  const reversed = reverse(dampedHessian(hessian, damping));
  return reverse(await blockedLowerInverse(await blockedCholesky(reversed, gemm), gemm));
}

/** P·m·P: rows and columns in reverse order. */
function reverse(m: Matrix): Matrix {
  const out = Float64Array.from(m.data).reverse();
  return matrix(m.rows, m.cols, out);
}

/** ‖(W − Ŵ)·Xᵀ‖² = Σ_r (w_r − ŵ_r)·H·(w_r − ŵ_r)ᵀ with H = XᵀX: how far a layer's outputs move on the calibration inputs. */
export function reconstructionError(original: Matrix, compressed: Matrix, hessian: Matrix): number {
  const n = original.cols;
  const diff = new Float64Array(n);
  let total = 0;
  for (let r = 0; r < original.rows; r++) {
    for (let c = 0; c < n; c++) diff[c] = original.data[r * n + c] - compressed.data[r * n + c];
    for (let i = 0; i < n; i++) {
      if (diff[i] === 0) continue;
      let s = 0;
      for (let j = 0; j < n; j++) s += hessian.data[i * n + j] * diff[j];
      total += diff[i] * s;
    }
  }
  return total;
}
