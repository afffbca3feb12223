/** A dense row-major matrix in float64: compression arithmetic accumulates too much error in float32. */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

export function matrix(rows: number, cols: number, data = new Float64Array(rows * cols)): Matrix {
  return { rows, cols, data };
}

export function transpose(m: Matrix): Matrix {
  const t = matrix(m.cols, m.rows);
  for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) t.data[c * m.rows + r] = m.data[r * m.cols + c];
  return t;
}

/** Lower-triangular L with A = L·Lᵀ; throws if A is not positive definite. */
export function cholesky(a: Matrix): Matrix {
  const n = a.rows;
  const L = matrix(n, n);
  const l = L.data;
  for (let j = 0; j < n; j++) {
    let diag = a.data[j * n + j];
    for (let k = 0; k < j; k++) diag -= l[j * n + k] * l[j * n + k];
    if (!(diag > 0)) throw new Error(`cholesky: matrix is not positive definite at column ${j}`);
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

/** A⁻¹ from A's Cholesky factor L: A⁻¹ = L⁻ᵀ·L⁻¹. */
export function inverseFromCholesky(L: Matrix): Matrix {
  const n = L.rows;
  const inv = matrix(n, n); // L⁻¹, lower triangular
  for (let j = 0; j < n; j++) {
    inv.data[j * n + j] = 1 / L.data[j * n + j];
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      for (let k = j; k < i; k++) s += L.data[i * n + k] * inv.data[k * n + j];
      inv.data[i * n + j] = -s / L.data[i * n + i];
    }
  }
  const out = matrix(n, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = i; k < n; k++) s += inv.data[k * n + i] * inv.data[k * n + j];
      out.data[i * n + j] = s;
      out.data[j * n + i] = s;
    }
  }
  return out;
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
 * compensate the error made on column i.
 */
export function inverseHessianFactor(hessian: Matrix, damping: number): Matrix {
  return transpose(cholesky(inverseFromCholesky(cholesky(dampedHessian(hessian, damping)))));
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
