import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, tempDir } from './cli-helpers.js';
import { Rng } from '../src/rng/rng.js';
import { checkBudget } from '../src/space/space.js';
import { loadTransformer } from '../src/models/transformer.js';
import { linearLayers, weightShapes, type LinearLayer } from '../src/models/config.js';
import { readTokenizer } from '../src/models/tokenizer.js';
import { sotuStreams, windowsOf } from '../src/data/text.js';
import { collectGrams } from '../src/compress/calibrate.js';
import { blockedCholesky, blockedLowerInverse, cholesky, dampedHessian, inverseHessianFactor, lowerInverse, matrix, reconstructionError, type Matrix } from '../src/compress/linalg.js';
import { Gemm } from '../src/runtime/gemm.js';
import { asRowsOut, fromRowsOut } from '../src/compress/levels.js';
import { magnitudePrune, smallest, sparseGptPrune, wandaPrune } from '../src/compress/sparsify.js';
import { gptqQuantize, rtnQuantize } from '../src/compress/quantize.js';
import { buildDatabase } from '../src/compress/build.js';
import { loadDatabaseConfig } from '../src/compress/config.js';
import { modelHash } from '../src/compress/hashing.js';
import { readManifest, spaceFromManifest, type Manifest } from '../src/compress/manifest.js';
import { readUnitLevels } from './helpers.js';

/**
 * The compression methods on the checked-in reference model and real State of the Union text:
 * Gram matrices from onnxruntime, every linear layer, and small level databases built into
 * temporary directories. Set COMPRESS_REPORT=1 to print the measured errors and timings.
 */

const MODEL_DIR = join(ROOT, 'models', 'reference-lm');
const model = loadTransformer(MODEL_DIR);
const layers = linearLayers(model.config);
const shapes = weightShapes(model.config);
const CALIBRATION = { windows: 16, length: 128 };
const DAMPING = 0.01;
/** Limits for the model-sized work, sized for a busy machine (about 10× the quiet time of the slowest, 25 s). */
const LONG = 300_000;

const report: string[] = [];
const gemm = new Gemm(1);
afterAll(async () => {
  await gemm.close();
  if (process.env.COMPRESS_REPORT) console.log(report.join('\n'));
});

const weightOf = (layer: LinearLayer) => asRowsOut(model.weights.get(layer.weight)!, layer);

function zeros(data: ArrayLike<number>): number {
  let z = 0;
  for (let i = 0; i < data.length; i++) if (data[i] === 0) z++;
  return z;
}

function rowZeros(w: Matrix): number[] {
  return Array.from({ length: w.rows }, (_, r) => zeros(w.data.subarray(r * w.cols, (r + 1) * w.cols)));
}

/** The most distinct values any row takes inside one group of `group` consecutive input columns. */
function maxDistinctPerGroup(w: Matrix, group: number): number {
  let most = 0;
  for (let r = 0; r < w.rows; r++) {
    for (let start = 0; start < w.cols; start += group) {
      const end = Math.min(w.cols, start + group);
      most = Math.max(most, new Set(w.data.subarray(r * w.cols + start, r * w.cols + end)).size);
    }
  }
  return most;
}

/** A·B for dense square matrices. */
function multiply(a: Matrix, b: Matrix): Matrix {
  const n = a.rows;
  const out = matrix(n, b.cols);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < a.cols; k++) {
      const x = a.data[i * a.cols + k];
      if (x === 0) continue;
      for (let j = 0; j < b.cols; j++) out.data[i * b.cols + j] += x * b.data[k * b.cols + j];
    }
  }
  return out;
}

function transposeOf(a: Matrix): Matrix {
  const t = matrix(a.cols, a.rows);
  for (let r = 0; r < a.rows; r++) for (let c = 0; c < a.cols; c++) t.data[c * a.rows + r] = a.data[r * a.cols + c];
  return t;
}

function distanceFromIdentity(a: Matrix): number {
  let worst = 0;
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) worst = Math.max(worst, Math.abs(a.data[i * a.cols + j] - (i === j ? 1 : 0)));
  return worst;
}

/** The diagonal part of the reconstruction error, Σ (w − ŵ)²·H_jj: the per-weight saliency Wanda's score approximates. */
function diagonalError(w: Matrix, c: Matrix, h: Matrix): number {
  let total = 0;
  for (let r = 0; r < w.rows; r++) for (let j = 0; j < w.cols; j++) total += (w.data[r * w.cols + j] - c.data[r * w.cols + j]) ** 2 * h.data[j * w.cols + j];
  return total;
}

const fmt = (x: number) => x.toExponential(2);

describe('linalg', () => {
  const rng = Rng.fromSeed('compress-linalg');
  const randomSpd = (n: number, samples: number): Matrix => {
    const x = matrix(samples, n, Float64Array.from({ length: samples * n }, () => rng.normal()));
    return multiply(transposeOf(x), x);
  };

  it('cholesky and lowerInverse factor and invert a random SPD matrix', () => {
    const a = randomSpd(40, 80);
    const L = cholesky(a);
    for (let i = 0; i < 40; i++) for (let j = i + 1; j < 40; j++) expect(L.data[i * 40 + j]).toBe(0);
    const llt = multiply(L, transposeOf(L));
    expect(Math.max(...llt.data.map((x, k) => Math.abs(x - a.data[k])))).toBeLessThan(1e-10 * 80);
    const inverse = lowerInverse(L);
    for (let i = 0; i < 40; i++) for (let j = i + 1; j < 40; j++) expect(inverse.data[i * 40 + j]).toBe(0);
    expect(distanceFromIdentity(multiply(inverse, L))).toBeLessThan(1e-10);
    expect(() => cholesky(matrix(2, 2, Float64Array.from([1, 2, 2, 1])))).toThrow(/not positive definite at column 1/);
  });

  it('the blocked factorisation and inverse (products on onnxruntime) equal the plain ones, over whole and partial blocks', async () => {
    for (const n of [128, 300]) {
      const a = randomSpd(n, 2 * n);
      const [plain, blocked] = [cholesky(a), await blockedCholesky(a, gemm)];
      const scale = Math.max(...plain.data.map(Math.abs));
      expect(Math.max(...blocked.data.map((x, k) => Math.abs(x - plain.data[k]))) / scale).toBeLessThan(1e-12);
      const [plainInverse, blockedInverse] = [lowerInverse(plain), await blockedLowerInverse(plain, gemm)];
      const inverseScale = Math.max(...plainInverse.data.map(Math.abs));
      expect(Math.max(...blockedInverse.data.map((x, k) => Math.abs(x - plainInverse.data[k]))) / inverseScale).toBeLessThan(1e-12);
    }
    // A failure deep in a later block names the column in the whole matrix.
    const a = randomSpd(200, 400);
    for (let k = 0; k < 200; k++) a.data[150 * 200 + k] = a.data[k * 200 + 150] = 0;
    await expect(blockedCholesky(a, gemm)).rejects.toThrow(/not positive definite at column 150/);
  });

  it('inverseHessianFactor gives upper-triangular U with UᵀU = (H + λ·mean(diag H)·I)⁻¹', async () => {
    for (const [n, samples] of [[48, 96], [64, 40], [260, 300]]) {
      // 40 samples for 64 inputs: H itself is singular, only the damping makes it invertible.
      const h = randomSpd(n, samples);
      for (const damping of [0.01, 0.1]) {
        const u = await inverseHessianFactor(h, damping, gemm);
        let bad = 0;
        for (let i = 0; i < n; i++) {
          if (!(u.data[i * n + i] > 0)) bad++;
          for (let j = 0; j < i; j++) if (u.data[i * n + j] !== 0) bad++;
        }
        expect(bad).toBe(0);
        expect(distanceFromIdentity(multiply(multiply(transposeOf(u), u), dampedHessian(h, damping)))).toBeLessThan(1e-8);
      }
    }
  });

  it('dampedHessian adds λ·mean(diag H) to the diagonal, after an input no token activated gets H_ii = 1', () => {
    const h = matrix(3, 3, Float64Array.from([4, 1, 0, 1, 2, 0, 0, 0, 0]));
    // mean(diag H) = 2 before the inactive input is set to 1; λ = 0.5 adds 1 to each diagonal entry.
    expect([...dampedHessian(h, 0.5).data]).toEqual([5, 1, 0, 1, 3, 0, 0, 0, 2]);
    expect([...h.data]).toEqual([4, 1, 0, 1, 2, 0, 0, 0, 0]); // the input is not changed
    expect([...dampedHessian(matrix(2, 2), 0.1).data]).toEqual([1.1, 0, 0, 1.1]); // no activation at all: λ·1
  });

  it('inverseHessianFactor treats an input no token activated as H_ii = 1', async () => {
    const n = 24;
    const h = randomSpd(n, 48);
    for (let k = 0; k < n; k++) h.data[5 * n + k] = h.data[k * n + 5] = 0;
    const u = await inverseHessianFactor(h, 0.01, gemm);
    expect(distanceFromIdentity(multiply(multiply(transposeOf(u), u), dampedHessian(h, 0.01)))).toBeLessThan(1e-8);
  });

  it('reconstructionError is Σ_r (w_r − ŵ_r)·H·(w_r − ŵ_r)ᵀ', () => {
    const h = randomSpd(6, 12);
    const w = matrix(3, 6, Float64Array.from({ length: 18 }, () => rng.normal()));
    const c = matrix(3, 6, Float64Array.from(w.data, (x, i) => (i % 4 === 0 ? 0 : x)));
    let expected = 0;
    for (let r = 0; r < 3; r++) for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) expected += (w.data[r * 6 + i] - c.data[r * 6 + i]) * h.data[i * 6 + j] * (w.data[r * 6 + j] - c.data[r * 6 + j]);
    expect(reconstructionError(w, c, h)).toBeCloseTo(expected, 9);
    expect(reconstructionError(w, w, h)).toBe(0);
  });
});

describe('lazy compensation', () => {
  const rng = Rng.fromSeed('compress-lazy');
  const random = (rows: number, cols: number) => matrix(rows, cols, Float64Array.from({ length: rows * cols }, () => rng.normal()));

  /** SparseGPT as its paper writes it: every pruning error compensated at once on every later column. */
  function eagerSparseGpt(w: Matrix, u: Matrix, count: number, blockSize: number): Matrix {
    const { rows, cols } = w;
    const W = Float64Array.from(w.data);
    for (let start = 0; start < cols; start += blockSize) {
      const end = Math.min(cols, start + blockSize);
      const width = end - start;
      const k = Math.round((count * end) / cols) - Math.round((count * start) / cols);
      const order = Array.from({ length: rows * width }, (_, i) => i);
      const score = (i: number) => (W[Math.floor(i / width) * cols + start + (i % width)] / u.data[(start + (i % width)) * cols + start + (i % width)]) ** 2;
      const pruned = new Set(order.sort((a, b) => score(a) - score(b) || a - b).slice(0, k).map((i) => Math.floor(i / width) * cols + start + (i % width)));
      for (let c = start; c < end; c++) {
        for (let r = 0; r < rows; r++) {
          if (!pruned.has(r * cols + c)) continue;
          const err = W[r * cols + c] / u.data[c * cols + c];
          for (let j = c; j < cols; j++) W[r * cols + j] -= err * u.data[c * cols + j];
          W[r * cols + c] = 0;
        }
      }
    }
    return matrix(rows, cols, W);
  }

  /** GPTQ the same way: each rounding error compensated at once; a group's grid from its compensated weights. */
  function eagerGptq(w: Matrix, u: Matrix, bits: number, group: number): Matrix {
    const { rows, cols } = w;
    const W = Float64Array.from(w.data);
    const max = 2 ** bits - 1;
    const grids: { scale: number; zero: number }[] = [];
    for (let c = 0; c < cols; c++) {
      for (let r = 0; r < rows && c % group === 0; r++) {
        const values = [0, ...W.subarray(r * cols + c, r * cols + Math.min(cols, c + group))];
        const [lo, hi] = [Math.min(...values), Math.max(...values)];
        grids[r] = hi === lo ? { scale: 1, zero: 0 } : { scale: (hi - lo) / max, zero: Math.round(-lo / ((hi - lo) / max)) };
      }
      for (let r = 0; r < rows; r++) {
        const g = grids[r];
        const q = (Math.min(max, Math.max(0, Math.round(W[r * cols + c] / g.scale) + g.zero)) - g.zero) * g.scale;
        const err = (W[r * cols + c] - q) / u.data[c * cols + c];
        for (let j = c + 1; j < cols; j++) W[r * cols + j] -= err * u.data[c * cols + j];
        W[r * cols + c] = q;
      }
    }
    return matrix(rows, cols, W);
  }

  // Relative to b's largest entry; an all-zero b (everything pruned) compares absolutely.
  const worstRelative = (a: Matrix, b: Matrix) => Math.max(...a.data.map((x, i) => Math.abs(x - b.data[i]))) / (Math.max(...b.data.map(Math.abs)) || 1);

  it('SparseGPT and GPTQ with lazy blocks equal their eager forms (several blocks, a partial last one)', async () => {
    const [rows, cols] = [37, 300];
    const x = random(2 * cols, cols);
    const u = await inverseHessianFactor(multiply(transposeOf(x), x), 0.01, gemm);
    const w = random(rows, cols);
    // Integer weights: the first block's saliencies tie in every column, and ties go to the earlier row.
    const coarse = matrix(rows, cols, w.data.map((x) => Math.round(2 * x)));
    for (const weights of [w, coarse]) {
      for (const [count, blockSize] of [[Math.round(0.6 * rows * cols), 128], [Math.round(0.3 * rows * cols), 64], [rows * cols, 128]]) {
        const [lazy, eager] = [await sparseGptPrune(weights, u, count, gemm, blockSize), eagerSparseGpt(weights, u, count, blockSize)];
        expect(zeros(lazy.data)).toBe(count);
        expect(lazy.data.map((v) => (v === 0 ? 1 : 0))).toEqual(eager.data.map((v) => (v === 0 ? 1 : 0)));
        expect(worstRelative(lazy, eager)).toBeLessThan(1e-10);
      }
    }
    for (const [bits, group] of [[3, 32], [4, 128], [2, 100], [3, 8]]) {
      const [lazy, eager] = [await gptqQuantize(w, u, bits, group, gemm), eagerGptq(w, u, bits, group)];
      let differing = 0;
      for (let i = 0; i < lazy.data.length; i++) if (Math.abs(lazy.data[i] - eager.data[i]) > 1e-9 * Math.max(1, Math.abs(eager.data[i]))) differing++;
      expect(differing).toBe(0);
    }
  });

  it('smallest takes the k smallest scores, ties to the lower index (or tieOrder), in index order', () => {
    expect([...smallest(Float64Array.from([3, 1, 2, 1, 0, 1]), 3)]).toEqual([1, 3, 4]);
    expect([...smallest(Float64Array.from([3, 1, 2, 1, 0, 1]), 0)]).toEqual([]);
    expect([...smallest(Float64Array.from([2, 2, 2]), 2)]).toEqual([0, 1]);
    expect([...smallest(Float64Array.from([5, 4]), 7)]).toEqual([0, 1]);
    // Ties in another order: the one of least tieOrder wins, the result stays in index order.
    expect([...smallest(Float64Array.from([1, 0, 1, 1]), 2, (i) => -i)]).toEqual([1, 3]);
  });
});

describe('compression on real activations of the reference model', () => {
  let grams: Map<string, Matrix>;
  const factors = new Map<string, Promise<Matrix>>();
  const factor = (layer: LinearLayer) => {
    if (!factors.has(layer.weight)) factors.set(layer.weight, inverseHessianFactor(grams.get(layer.weight)!, DAMPING, gemm));
    return factors.get(layer.weight)!;
  };
  const inputNorms = (layer: LinearLayer) => {
    const h = grams.get(layer.weight)!;
    return Float64Array.from({ length: layer.inFeatures }, (_, j) => Math.sqrt(h.data[j * layer.inFeatures + j]));
  };

  beforeAll(async () => {
    const started = Date.now();
    const tokenizer = readTokenizer(MODEL_DIR);
    const windows = windowsOf(sotuStreams((t) => tokenizer.encode(t)).calibration, CALIBRATION.length, CALIBRATION.windows);
    grams = await collectGrams(model, windows);
    report.push(`collectGrams: ${CALIBRATION.windows} windows × ${CALIBRATION.length} tokens in ${Date.now() - started} ms`);
  }, LONG);

  it('collects one symmetric positive semi-definite Gram per linear layer, every input activated', () => {
    expect([...grams.keys()]).toEqual(layers.map((l) => l.weight));
    for (const layer of layers) {
      const h = grams.get(layer.weight)!;
      const n = layer.inFeatures;
      expect([h.rows, h.cols]).toEqual([n, n]);
      let inactive = 0;
      let asymmetric = 0;
      let beyondCauchySchwarz = 0;
      for (let i = 0; i < n; i++) {
        if (!(h.data[i * n + i] > 0)) inactive++;
        for (let j = 0; j < i; j++) {
          if (Math.abs(h.data[i * n + j] - h.data[j * n + i]) > 1e-6 * Math.max(1, Math.abs(h.data[i * n + j]))) asymmetric++;
          // |H_ij| ≤ √(H_ii·H_jj).
          if (h.data[i * n + j] ** 2 > h.data[i * n + i] * h.data[j * n + j] * (1 + 1e-5)) beyondCauchySchwarz++;
        }
      }
      expect({ inactive, asymmetric, beyondCauchySchwarz }).toEqual({ inactive: 0, asymmetric: 0, beyondCauchySchwarz: 0 });
    }
  });

  it('the first attention layer\'s Gram equals Σ xᵀx of ln_1(wte + wpe) computed by hand', () => {
    // Only the first layer's input has a closed form worth writing out: LayerNorm of the embeddings.
    const tokenizer = readTokenizer(MODEL_DIR);
    const windows = windowsOf(sotuStreams((t) => tokenizer.encode(t)).calibration, CALIBRATION.length, CALIBRATION.windows);
    const { dModel: d, normEps } = model.config;
    const wte = model.weights.get('wte.weight')!;
    const wpe = model.weights.get('wpe.weight')!;
    const gain = model.weights.get('h.0.ln_1.weight')!;
    const bias = model.weights.get('h.0.ln_1.bias')!;
    const expected = new Float64Array(d * d);
    const x = new Float64Array(d);
    for (const window of windows) {
      for (let t = 0; t < CALIBRATION.length; t++) {
        let mean = 0;
        for (let i = 0; i < d; i++) mean += x[i] = wte[window[t] * d + i] + wpe[t * d + i];
        mean /= d;
        let variance = 0;
        for (let i = 0; i < d; i++) variance += (x[i] - mean) ** 2;
        const scale = 1 / Math.sqrt(variance / d + normEps);
        for (let i = 0; i < d; i++) x[i] = (x[i] - mean) * scale * gain[i] + bias[i];
        for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) expected[i * d + j] += x[i] * x[j];
      }
    }
    const h = grams.get('h.0.attn.c_attn.weight')!;
    let largest = 0;
    let worst = 0;
    for (let k = 0; k < expected.length; k++) {
      largest = Math.max(largest, Math.abs(expected[k]));
      worst = Math.max(worst, Math.abs(expected[k] - h.data[k]));
    }
    expect(worst / largest).toBeLessThan(1e-5);
  });

  it('inverseHessianFactor inverts real damped Grams', async () => {
    for (const weight of ['h.1.attn.c_attn.weight', 'h.1.mlp.c_proj.weight']) {
      const layer = layers.find((l) => l.weight === weight)!;
      const u = await factor(layer);
      const worst = distanceFromIdentity(multiply(multiply(transposeOf(u), u), dampedHessian(grams.get(weight)!, DAMPING)));
      report.push(`UᵀU·H_damped − I on ${weight} (${layer.inFeatures} inputs): ${fmt(worst)}`);
      expect(worst).toBeLessThan(1e-8);
    }
  }, LONG);

  describe('pruning', () => {
    const block1 = () => layers.filter((l) => l.block === 1);

    it('magnitude, Wanda and SparseGPT zero exactly `count` weights at 30%, 60% and 90% (block 1, every layer shape)', async () => {
      for (const layer of block1()) {
        const w = weightOf(layer);
        const numel = w.data.length;
        expect(zeros(w.data)).toBe(0);
        const norms = inputNorms(layer);
        for (const fraction of [0.3, 0.6, 0.9]) {
          const count = Math.round(fraction * numel);
          const mag = magnitudePrune(w, count);
          const wanda = wandaPrune(w, norms, count);
          const sgpt = await sparseGptPrune(w, await factor(layer), count, gemm);
          for (const pruned of [mag, wanda, sgpt]) {
            expect([pruned.rows, pruned.cols]).toEqual([w.rows, w.cols]);
            expect(zeros(pruned.data)).toBe(count);
            expect(pruned.data.every(Number.isFinite)).toBe(true);
          }
          // Magnitude and Wanda only remove weights; SparseGPT also updates the kept ones.
          for (const pruned of [mag, wanda]) expect(pruned.data.every((x, i) => x === 0 || x === w.data[i])).toBe(true);
          let moved = 0;
          for (let i = 0; i < numel; i++) if (sgpt.data[i] !== 0 && sgpt.data[i] !== w.data[i]) moved++;
          expect(moved).toBeGreaterThan(0);

          // Magnitude: every pruned |w| is at most every kept |w|.
          let prunedMax = 0;
          let keptMin = Infinity;
          for (let i = 0; i < numel; i++) {
            if (mag.data[i] === 0) prunedMax = Math.max(prunedMax, Math.abs(w.data[i]));
            else keptMin = Math.min(keptMin, Math.abs(w.data[i]));
          }
          expect(prunedMax).toBeLessThanOrEqual(keptMin);

          // Wanda: per output row, ⌊count/rows⌋ or one more zeros, and the row's smallest |w|·‖X_j‖.
          const perRow = rowZeros(wanda);
          expect(Math.max(...perRow) - Math.min(...perRow)).toBeLessThanOrEqual(1);
          expect(perRow).toEqual(perRow.map((_, r) => Math.floor(count / w.rows) + (r < count % w.rows ? 1 : 0)));
          let misordered = 0;
          for (let r = 0; r < w.rows; r++) {
            let rowPrunedMax = 0;
            let rowKeptMin = Infinity;
            for (let j = 0; j < w.cols; j++) {
              const score = Math.abs(w.data[r * w.cols + j]) * norms[j];
              if (wanda.data[r * w.cols + j] === 0) rowPrunedMax = Math.max(rowPrunedMax, score);
              else rowKeptMin = Math.min(rowKeptMin, score);
            }
            if (rowPrunedMax > rowKeptMin) misordered++;
          }
          expect(misordered).toBe(0);
        }
        expect(zeros(magnitudePrune(w, 0).data)).toBe(0);
        expect(zeros((await sparseGptPrune(w, await factor(layer), numel, gemm)).data)).toBe(numel);
      }
    }, LONG);

    it('SparseGPT has lower reconstruction error than magnitude and Wanda on every layer at 50% and 70%; Wanda beats row-wise magnitude on three quarters of them or more [slow]', async () => {
      const wandaVsMagnitude: string[] = [];
      const wandaVsRowMagnitude: string[] = [];
      for (const fraction of [0.5, 0.7]) {
        for (const layer of layers) {
          const w = weightOf(layer);
          const h = grams.get(layer.weight)!;
          const count = Math.round(fraction * w.data.length);
          const mag = magnitudePrune(w, count);
          const wanda = wandaPrune(w, inputNorms(layer), count);
          // Wanda's comparison group: the same per-row counts, chosen by |w| alone.
          const rowMag = wandaPrune(w, new Float64Array(w.cols).fill(1), count);
          const sgpt = await sparseGptPrune(w, await factor(layer), count, gemm);
          for (const pruned of [mag, wanda, rowMag, sgpt]) expect(zeros(pruned.data)).toBe(count);
          const e = { magnitude: reconstructionError(w, mag, h), wanda: reconstructionError(w, wanda, h), rowMagnitude: reconstructionError(w, rowMag, h), sparsegpt: reconstructionError(w, sgpt, h) };
          report.push(
            `prune ${fraction * 100}% ${layer.weight.padEnd(24)} magnitude ${fmt(e.magnitude)}  wanda ${fmt(e.wanda)}  row-magnitude ${fmt(e.rowMagnitude)}  sparsegpt ${fmt(e.sparsegpt)}`,
          );
          expect(e.sparsegpt).toBeLessThan(e.magnitude);
          expect(e.sparsegpt).toBeLessThan(e.wanda);
          // Wanda picks, row by row, the mask of least diagonal error Σ w²·H_jj, so it can't lose to row-wise magnitude there...
          expect(diagonalError(w, wanda, h)).toBeLessThanOrEqual(diagonalError(w, rowMag, h) * (1 + 1e-12));
          // ...and on the full error it usually wins too, though not on every layer: counted below.
          if (e.wanda >= e.rowMagnitude) wandaVsRowMagnitude.push(`${fraction * 100}% ${layer.weight}`);
          // Against layer-wide magnitude Wanda wins only on some layers of this model: measured, not asserted.
          if (e.wanda >= e.magnitude) wandaVsMagnitude.push(`${fraction * 100}% ${layer.weight}`);
        }
      }
      report.push(`Wanda not below layer-wide magnitude on ${wandaVsMagnitude.length}/${2 * layers.length}: ${wandaVsMagnitude.join(', ')}`);
      report.push(`Wanda not below row-wise magnitude on ${wandaVsRowMagnitude.length}/${2 * layers.length}: ${wandaVsRowMagnitude.join(', ')}`);
      expect(wandaVsRowMagnitude.length, wandaVsRowMagnitude.join(', ')).toBeLessThanOrEqual(layers.length / 2);
    }, LONG);
  });

  describe('quantization', () => {
    it('GPTQ has lower reconstruction error than RTN on every linear layer at 2, 3 and 4 bits (group 128) [slow]', async () => {
      const group = 128;
      for (const layer of layers) {
        const w = weightOf(layer);
        const h = grams.get(layer.weight)!;
        const errors: { bits: number; rtn: number; gptq: number }[] = [];
        for (const bits of [2, 3, 4]) {
          const rtn = rtnQuantize(w, bits, group);
          const gptq = await gptqQuantize(w, await factor(layer), bits, group, gemm);
          for (const q of [rtn, gptq]) {
            expect(q.data.every(Number.isFinite)).toBe(true);
            expect(maxDistinctPerGroup(q, group)).toBeLessThanOrEqual(2 ** bits);
          }
          const e = { bits, rtn: reconstructionError(w, rtn, h), gptq: reconstructionError(w, gptq, h) };
          errors.push(e);
          expect(e.gptq).toBeGreaterThan(0);
          expect(e.gptq).toBeLessThan(e.rtn);
        }
        // More bits, less error, for both.
        expect(errors[1].rtn).toBeLessThan(errors[0].rtn);
        expect(errors[2].rtn).toBeLessThan(errors[1].rtn);
        expect(errors[1].gptq).toBeLessThan(errors[0].gptq);
        expect(errors[2].gptq).toBeLessThan(errors[1].gptq);
        report.push(`quant ${layer.weight.padEnd(24)} ${errors.map((e) => `${e.bits}b rtn ${fmt(e.rtn)} gptq ${fmt(e.gptq)} (×${(e.rtn / e.gptq).toFixed(0)})`).join('  ')}`);
      }
    }, LONG);

    it('RTN rounds every weight to the nearest point of its group grid, within half a step', () => {
      const layer = layers.find((l) => l.weight === 'h.2.mlp.c_proj.weight')!;
      const w = weightOf(layer);
      const bits = 3;
      const group = 128;
      const q = rtnQuantize(w, bits, group);
      let worst = 0;
      for (let r = 0; r < w.rows; r++) {
        for (let start = 0; start < w.cols; start += group) {
          const values = w.data.subarray(r * w.cols + start, r * w.cols + Math.min(w.cols, start + group));
          const lo = Math.min(0, ...values);
          const hi = Math.max(0, ...values);
          const step = (hi - lo) / (2 ** bits - 1);
          for (let j = 0; j < values.length; j++) worst = Math.max(worst, Math.abs(q.data[r * w.cols + start + j] - values[j]) / step);
        }
      }
      expect(worst).toBeLessThanOrEqual(0.5 + 1e-9);
    });
  });
});

describe('level databases of the reference model', () => {
  const dir = tempDir();
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const smallest = Math.min(...layers.map((l) => l.inFeatures * l.outFeatures));
  const step = Math.round(0.1 * smallest);
  const layerOf = (weight: string) => layers.find((l) => l.weight === weight)!;

  function writeConfig(name: string, compression: object, calibration?: object, modelDir = MODEL_DIR) {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify({ model: modelDir, out: name, compression, ...(calibration ? { calibration } : {}) }));
    return loadDatabaseConfig(file);
  }

  async function timedBuild(config: ReturnType<typeof loadDatabaseConfig>) {
    const started = performance.now();
    const result = await buildDatabase(config);
    return { ...result, ms: performance.now() - started };
  }

  const fileSha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

  /**
   * Checks a sparsity database against what its stored tensors really hold: every level's zeros,
   * the manifest's value and cost, steps of exactly `step` pruned weights in every unit, and a
   * uniform genome whose cost is the budget.
   */
  function checkSparsityDatabase(out: string, manifest: Manifest, target: number, stepsEachSide: number, compareToMagnitude = false) {
    expect(manifest.units.map((u) => u.weights[0])).toEqual(layers.map((l) => l.weight));
    expect(manifest.budget).toEqual({ mode: 'equal', total: expect.any(Number), tolerance: 0 });
    let uniformCost = 0;
    manifest.units.forEach((unit, i) => {
      const layer = layerOf(unit.weights[0]);
      const numel = layer.inFeatures * layer.outFeatures;
      expect(unit.parameters).toBe(numel);
      expect(unit.levels).toHaveLength(2 * stepsEachSide + 1);
      expect(unit.file).toBe(`${layer.weight}.safetensors`);
      expect(fileSha(join(out, unit.file!))).toBe(unit.sha256);
      const centre = manifest.uniform[i];
      expect(centre).toBe(stepsEachSide);
      const stored = readUnitLevels(out, manifest, i, shapes);
      const original = model.weights.get(layer.weight)!;
      unit.levels.forEach((level, l) => {
        expect(level.tensors).toBe('file');
        const data = stored.get(l)!;
        expect(data).toHaveLength(numel);
        const z = zeros(data);
        const nominal = Math.round(target * numel) + (l - centre) * step;
        // The real sparsity is the manifest's, and the nominal count of this level.
        expect(level.value).toBe(z / numel);
        expect(level.cost).toBe(numel - z);
        expect(Math.abs(level.value - (target + ((l - centre) * step) / numel))).toBeLessThanOrEqual(step / numel);
        expect(z).toBe(nominal);
        // Same pruned-count step in every unit.
        expect(unit.levels[centre].cost - level.cost).toBe((l - centre) * step);
        if (compareToMagnitude) {
          expect(data.every((x, k) => x === 0 || x === original[k])).toBe(true);
          const expected = magnitudePruneStored(layer, nominal);
          expect(data.every((x, k) => x === expected[k])).toBe(true);
        }
      });
      uniformCost += unit.levels[centre].cost;
    });
    expect(uniformCost).toBe(manifest.budget.total);
    expect(checkBudget(spaceFromManifest(manifest))).toBeNull();
    const space = spaceFromManifest(manifest);
    expect(space.uniform).toEqual(manifest.uniform);
    expect(space.units.reduce((s, u, i) => s + u.cost[manifest.uniform[i]], 0)).toBe(manifest.budget.total);
  }

  /** magnitudePrune of a layer, back in the stored (HF) layout as float32. */
  function magnitudePruneStored(layer: LinearLayer, count: number): Float32Array {
    return fromRowsOut(magnitudePrune(weightOf(layer), count), layer);
  }

  it('magnitude sparsity: real sparsity of every level, equal steps, uniform cost = budget; reuse, rebuild on change or corruption [slow]', async () => {
    expect(step).toBe(2560);
    const config = writeConfig('magnitude', { type: 'sparsity', method: 'magnitude', target: 0.5, stepsEachSide: 2 });
    const out = config.outDir;
    expect(out).toBe(join(dir, 'magnitude'));

    const first = await timedBuild(config);
    expect(first.reused).toBe(false);
    const manifest = first.manifest;
    expect(readManifest(out)).toEqual(manifest);
    expect(manifest.calibration).toBeNull();
    expect(manifest.model).toEqual({ path: MODEL_DIR, sha256: await modelHash(MODEL_DIR), family: 'gpt2' });
    expect(manifest.budget.total).toBe(layers.reduce((s, l) => s + l.inFeatures * l.outFeatures - Math.round(0.5 * l.inFeatures * l.outFeatures), 0));
    checkSparsityDatabase(out, manifest, 0.5, 2, true);
    const hashes = manifest.units.map((u) => u.sha256);

    const again = await timedBuild(config);
    expect(again.reused).toBe(true);
    expect(again.manifest).toEqual(manifest);
    expect(again.ms).toBeLessThan(first.ms);
    // The same config written differently (keys reordered, defaults spelled out) is the same database.
    const respelled = await timedBuild(
      writeConfig('magnitude', { stepsEachSide: 2, blockSize: 128, damping: 0.01, step: 0.1, target: 0.5, method: 'magnitude', type: 'sparsity' }, { length: model.config.contextLength, windows: 32 }),
    );
    expect(respelled.reused).toBe(true);
    // The same model somewhere else (a moved project): reused, and named where it is now, not where it was.
    const moved = join(dir, 'moved-model');
    cpSync(MODEL_DIR, moved, { recursive: true });
    const elsewhere = await timedBuild(writeConfig('magnitude', { type: 'sparsity', method: 'magnitude', target: 0.5, stepsEachSide: 2 }, undefined, moved));
    expect(elsewhere.reused).toBe(true);
    expect(elsewhere.manifest.model.path).toBe(moved);
    expect(elsewhere.manifest.units).toEqual(manifest.units);

    // A different target: rebuilt, centred on the new target.
    const other = await timedBuild(writeConfig('magnitude', { type: 'sparsity', method: 'magnitude', target: 0.4, stepsEachSide: 2 }));
    expect(other.reused).toBe(false);
    expect(other.manifest.configSha256).not.toBe(manifest.configSha256);
    checkSparsityDatabase(out, other.manifest, 0.4, 2, true);

    // Back to the first config: rebuilt (the manifest is the 0.4 one), bit for bit the same files.
    const back = await timedBuild(config);
    expect(back.reused).toBe(false);
    expect(back.manifest.units.map((u) => u.sha256)).toEqual(hashes);
    expect(back.manifest.configSha256).toBe(manifest.configSha256);

    // A corrupted unit file is not reused: the rebuild restores it.
    const victim = join(out, manifest.units[5].file!);
    const bytes = readFileSync(victim);
    bytes[bytes.length - 3] ^= 0xff;
    writeFileSync(victim, bytes);
    expect(fileSha(victim)).not.toBe(hashes[5]);
    const repaired = await timedBuild(config);
    expect(repaired.reused).toBe(false);
    expect(fileSha(victim)).toBe(hashes[5]);
    checkSparsityDatabase(out, repaired.manifest, 0.5, 2);

    // So is a missing one.
    rmSync(join(out, manifest.units[0].file!));
    const restored = await timedBuild(config);
    expect(restored.reused).toBe(false);
    expect(restored.manifest.units.map((u) => u.sha256)).toEqual(hashes);
    const last = await timedBuild(config);
    expect(last.reused).toBe(true);
    report.push(
      `magnitude db (16 units × 5 levels): build ${first.ms.toFixed(0)} ms, reuse ${again.ms.toFixed(0)} ms, rebuild after corruption ${repaired.ms.toFixed(0)} ms`,
    );
  }, LONG);

  it('SparseGPT sparsity (the experiment method): every level holds exactly its nominal count of zeros', async () => {
    const config = writeConfig('sparsegpt', { type: 'sparsity', method: 'sparsegpt', target: 0.6, stepsEachSide: 1 }, { windows: 8 });
    const { manifest, reused, ms } = await timedBuild(config);
    expect(reused).toBe(false);
    expect(manifest.calibration).toMatchObject({ corpus: 'sotu-before-2011', windows: 8, length: model.config.contextLength });
    checkSparsityDatabase(config.outDir, manifest, 0.6, 1);
    report.push(`sparsegpt db (16 units × 3 levels, 8 windows): build ${ms.toFixed(0)} ms`);
  }, LONG);

  it('GPTQ quantization: one level per bit-width, ≤ 2^bits values per group, below RTN on real activations [slow]', async () => {
    const group = 128;
    const config = writeConfig('gptq', { type: 'quantization', method: 'gptq', target: 3, bits: [2, 3, 4], group }, { windows: 8 });
    const { manifest, reused, ms } = await timedBuild(config);
    expect(reused).toBe(false);
    expect(manifest.calibration).toMatchObject({ corpus: 'sotu-before-2011', windows: 8, length: model.config.contextLength });
    const total = layers.reduce((s, l) => s + l.inFeatures * l.outFeatures, 0);
    // Average bits between 3·(1 − 0.02) and 3 (the default tolerance): configurations of nearly the same size.
    expect(manifest.budget).toEqual({ mode: 'equal', total: 3 * total * 0.99, tolerance: 3 * total * 0.01 });
    expect(manifest.uniform).toEqual(layers.map(() => 1));
    expect(manifest.units.reduce((s, u, i) => s + u.levels[manifest.uniform[i]].cost, 0)).toBeCloseTo(3 * total, 6);
    expect(checkBudget(spaceFromManifest(manifest))).toBeNull();

    // The database's levels are judged on a Gram of other windows than the ones it was calibrated on.
    const tokenizer = readTokenizer(MODEL_DIR);
    const heldOut = windowsOf(sotuStreams((t) => tokenizer.encode(t)).heldOut, 128, 8);
    const grams = await collectGrams(model, heldOut);
    manifest.units.forEach((unit, i) => {
      const layer = layerOf(unit.weights[0]);
      const numel = layer.inFeatures * layer.outFeatures;
      expect(unit.levels).toEqual([2, 3, 4].map((b) => ({ value: b, cost: b * numel, method: 'gptq', tensors: 'file' })));
      const stored = readUnitLevels(config.outDir, manifest, i, shapes);
      const w = weightOf(layer);
      const h = grams.get(layer.weight)!;
      unit.levels.forEach((level, l) => {
        const q = asRowsOut(stored.get(l)!, layer);
        expect(maxDistinctPerGroup(q, group)).toBeLessThanOrEqual(2 ** level.value);
        expect(reconstructionError(w, q, h)).toBeLessThan(reconstructionError(w, rtnQuantize(w, level.value, group), h));
      });
    });
    const again = await timedBuild(config);
    expect(again.reused).toBe(true);
    report.push(`gptq db (16 units × 3 levels, 8 windows): build ${ms.toFixed(0)} ms, reuse ${again.ms.toFixed(0)} ms`);
  }, LONG);

  it('drop: levels [keep, drop], budget = units kept, no tensors stored', async () => {
    for (const [granularity, target, units, kept] of [['sublayer', 0.25, 8, 6], ['block', 0.5, 4, 2]] as const) {
      const config = writeConfig(`drop-${granularity}`, { type: 'drop', granularity, target });
      const { manifest, reused } = await buildDatabase(config);
      expect(reused).toBe(false);
      expect(manifest.calibration).toBeNull();
      expect(manifest.units).toHaveLength(units);
      expect(manifest.budget).toEqual({ mode: 'equal', total: kept, tolerance: 0 });
      expect(manifest.uniform.filter((l) => l === 0)).toHaveLength(kept);
      const space = spaceFromManifest(manifest);
      expect(space.units.reduce((s, u, i) => s + u.cost[manifest.uniform[i]], 0)).toBe(kept);
      expect(checkBudget(space)).toBeNull();
      for (const [i, unit] of manifest.units.entries()) {
        expect(unit.levels).toEqual([{ value: 0, cost: 1, method: 'dense', tensors: 'dense' }, { value: 1, cost: 0, method: 'drop', tensors: 'zero' }]);
        expect(unit.file).toBeNull();
        expect(readUnitLevels(config.outDir, manifest, i, shapes).size).toBe(0);
        // The weights dropping the unit zeroes are its sub-blocks' output projections; its parameters, its linear weights.
        const blocks = granularity === 'block' ? [i] : [Math.floor(i / 2)];
        const parts = granularity === 'block' ? ['attn', 'mlp'] : [i % 2 === 0 ? 'attn' : 'mlp'];
        expect(unit.weights).toEqual(blocks.flatMap((b) => parts.flatMap((p) => [`h.${b}.${p}.c_proj.weight`, `h.${b}.${p}.c_proj.bias`])));
        expect(unit.parameters).toBe(layers.filter((l) => blocks.includes(l.block) && parts.includes(l.part)).reduce((s, l) => s + l.inFeatures * l.outFeatures, 0));
      }
      expect(readdirSync(config.outDir)).toEqual(['manifest.json']);
      expect((await buildDatabase(config)).reused).toBe(true);
    }
    expect(existsSync(join(dir, 'drop-block', 'manifest.json'))).toBe(true);
  }, LONG);
});
