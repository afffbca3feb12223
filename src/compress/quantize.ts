import type { Gemm } from '../runtime/gemm.js';
import { matrix, transpose, type Matrix } from './linalg.js';
import { compensatedSweep, OUTER } from './sweep.js';

/**
 * Asymmetric per-group quantization of a weight matrix W [outputs × inputs]: each row is cut into
 * groups of `group` consecutive input columns, each with its own scale and zero point on a grid of
 * 2^bits levels. Results are the dequantized weights (what the model computes with).
 */

interface Grid {
  scale: number;
  zero: number;
  max: number;
}

/** The grid that spans [min, max] of a group, widened to contain 0 as GPTQ's quantizer does. */
function grid(values: Float64Array, from: number, to: number, bits: number): Grid {
  let lo = 0;
  let hi = 0;
  for (let i = from; i < to; i++) {
    lo = Math.min(lo, values[i]);
    hi = Math.max(hi, values[i]);
  }
  const max = 2 ** bits - 1;
  if (hi === lo) return { scale: 1, zero: 0, max };
  const scale = (hi - lo) / max;
  return { scale, zero: Math.round(-lo / scale), max };
}

function snap(x: number, g: Grid): number {
  const q = Math.min(g.max, Math.max(0, Math.round(x / g.scale) + g.zero));
  return (q - g.zero) * g.scale;
}

/** Round to nearest, every group's grid taken from the original weights. */
export function rtnQuantize(w: Matrix, bits: number, group: number): Matrix {
  const out = matrix(w.rows, w.cols);
  for (let r = 0; r < w.rows; r++) {
    const row = w.data.subarray(r * w.cols, (r + 1) * w.cols);
    for (let start = 0; start < w.cols; start += group) {
      const end = Math.min(w.cols, start + group);
      const g = grid(row, start, end, bits);
      for (let c = start; c < end; c++) out.data[r * w.cols + c] = snap(row[c], g);
    }
  }
  return out;
}

/**
 * GPTQ (Frantar et al. 2022): columns are quantized left to right and each rounding error is
 * compensated on the columns not yet quantized through U, the upper Cholesky factor of the damped
 * inverse Hessian. A group's grid is fitted when the group starts, on the already-compensated
 * weights, as GPTQ does with groups and no activation ordering. The compensation is lazy
 * ({@link compensatedSweep}), in blocks of whole groups, so that every group starts compensated.
 */
export async function gptqQuantize(w: Matrix, u: Matrix, bits: number, group: number, gemm: Gemm): Promise<Matrix> {
  const { rows, cols } = w;
  // Wᵀ: a column of W is a contiguous row, and the columns after a block are one contiguous range.
  const wt = transpose(w);
  const W = wt.data;
  const U = u.data;
  const grids: Grid[] = new Array(rows);
  const values = new Float64Array(group);
  // Whole groups per outer block, and an inner block at every group start: a group starts compensated.
  const outer = group >= OUTER ? group : group * Math.floor(OUTER / group);
  await compensatedSweep(wt, u, gemm, outer, {
    mustBeCurrent: (col) => col % group === 0,
    column(col, errors) {
      if (col % group === 0) {
        const last = Math.min(cols, col + group);
        for (let r = 0; r < rows; r++) {
          for (let j = col; j < last; j++) values[j - col] = W[j * rows + r];
          grids[r] = grid(values, 0, last - col, bits);
        }
      }
      const d = U[col * cols + col];
      for (let r = 0, at = col * rows; r < rows; r++, at++) {
        const q = snap(W[at], grids[r]);
        errors[r] = (W[at] - q) / d;
        W[at] = q;
      }
      return true;
    },
  });
  return transpose(wt);
}
