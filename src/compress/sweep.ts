import type { Gemm } from '../runtime/gemm.js';
import { block, matrix, type Matrix } from './linalg.js';

/** What SparseGPT or GPTQ does at each step of the column sweep. */
export interface SweepSteps {
  /** A block of columns starts (SparseGPT chooses its mask here); every column of it is compensated already. */
  startBlock?(start: number, end: number): void;
  /** Whether a column must see every earlier error before it is touched (GPTQ's group starts). */
  mustBeCurrent?(col: number): boolean;
  /** Compresses column `col` (row `col` of Wᵀ) and writes its errors, scaled by 1/U_cc, into `errors`; false when they are all 0. */
  column(col: number, errors: Float64Array): boolean;
}

/** Columns per outer block: the products on onnxruntime are this deep. */
export const OUTER = 128;
/** Columns per inner block: inside it each error is compensated at once, in plain loops. */
const INNER = 16;

/**
 * The column sweep SparseGPT and GPTQ share: columns left to right, each column's error
 * compensated on every later column through U, the upper Cholesky factor of the damped inverse
 * Hessian. As in the reference code the compensation is lazy, here on two levels: inside an inner
 * block of 16 columns at once, on the rest of the outer block after each inner block, and on the
 * columns after the outer block after it; the last two are products on onnxruntime. The result is
 * the eager sweep's, summed in another order. Wᵀ (W's columns as rows) is updated in place.
 */
export async function compensatedSweep(wt: Matrix, u: Matrix, gemm: Gemm, outer: number, steps: SweepSteps): Promise<void> {
  const { rows: cols, cols: rows } = wt;
  for (let start = 0; start < cols; start += outer) {
    const end = Math.min(cols, start + outer);
    steps.startBlock?.(start, end);
    const errors = matrix(end - start, rows);
    for (let i0 = start; i0 < end; ) {
      let i1 = Math.min(end, i0 + INNER);
      for (let c = i0 + 1; c < i1; c++) if (steps.mustBeCurrent?.(c)) i1 = c;
      for (let col = i0; col < i1; col++) {
        const row = errors.data.subarray((col - start) * rows, (col - start + 1) * rows);
        if (steps.column(col, row)) compensate(wt, u, col, i1, row);
      }
      await compensateRange(wt, u, errors, start, i0, i1, end, gemm);
      i0 = i1;
    }
    await compensateRange(wt, u, errors, start, start, end, cols, gemm);
  }
}

/** Column `col`'s errors compensated on the columns after it up to `end`. */
function compensate(wt: Matrix, u: Matrix, col: number, end: number, errors: Float64Array): void {
  const rows = wt.cols;
  const W = wt.data;
  const U = u.data;
  for (let j = col + 1; j < end; j++) {
    const ucj = U[col * u.cols + j];
    if (ucj === 0) continue;
    const at = j * rows;
    for (let r = 0; r < rows; r++) W[at + r] -= errors[r] * ucj;
  }
}

/** The errors of columns from..to (rows of `errors`, which start at column `start`) compensated on columns to..until, in one product. */
async function compensateRange(wt: Matrix, u: Matrix, errors: Matrix, start: number, from: number, to: number, until: number, gemm: Gemm): Promise<void> {
  if (to >= until || from >= to) return;
  const rows = wt.cols;
  const target = matrix(until - to, rows, wt.data.subarray(to * rows, until * rows));
  const sources = matrix(to - from, rows, errors.data.subarray((from - start) * rows, (to - start) * rows));
  wt.data.set((await gemm.run(block(u, from, to, to, until), sources, { transA: true, alpha: -1, c: target })).data, to * rows);
}
