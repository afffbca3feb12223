import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type * as TF from '@tensorflow/tfjs';
import { initTensorflow } from '../src/runtime/tfjs.js';
import { loadLayersModel, readLayersModel } from '../src/models/layers-model.js';
import { upscalerPackageDir } from '../src/models/upscaler.js';
import { loadTransformer } from '../src/models/transformer.js';
import { readTokenizer } from '../src/models/tokenizer.js';
import { transformerGraph, graphFeeds } from '../src/models/transformer-onnx.js';
import { createSession } from '../src/runtime/onnx.js';
import { CALIBRATION_PHOTOS, patches, photo } from '../src/data/photos.js';
import { sotuStreams, windowsOf } from '../src/data/text.js';
import { loadPictures, PICTURE_SIZE } from '../src/data/fashion.js';
import { genomeHash } from '../src/space/space.js';
import { ROOT, cli, tempDir } from './cli-helpers.js';

/** A short search, then its best configuration exported as a model, reloaded, and scored again by hand. */
function searchAndExport(dbConfig: object, fitness: object, format: 'tfjs' | 'safetensors') {
  const dir = tempDir();
  writeFileSync(join(dir, 'db.json'), JSON.stringify(dbConfig));
  writeFileSync(
    join(dir, 'experiment.json'),
    JSON.stringify({ name: 'export', seed: 2, space: { database: 'db.json' }, strategy: { type: 'evopress', generations: 6, offspring: 4 }, fitness, workers: 1 }),
  );
  const runs = join(dir, 'runs.db');
  const run = cli(['run', join(dir, 'experiment.json'), '--db', runs, '--run-id', 'e', '--json']);
  expect(run.code, run.stderr).toBe(0);
  const out = join(dir, 'model');
  const exported = cli(['export', 'e', '--db', runs, '--format', format, '--out', out]);
  expect(exported.code, exported.stderr).toBe(0);
  const best = JSON.parse(run.stdout).result as { fitness: number; units: { level: number }[] };
  // Where the search measured its best: the evaluation rows of that genome (fidelity and value).
  const conn = new Database(runs, { readonly: true });
  // Search slices only: the validation slices at the end read held-back data, which these tests do not rebuild.
  const slices = (fitness as { slices: number }).slices;
  const rows = (conn.prepare('SELECT budget, slice, fitness FROM evaluations WHERE genome_hash = ?').all(genomeHash(best.units.map((u) => u.level))) as { budget: number; slice: number; fitness: number }[]).filter((r) => r.slice < slices);
  conn.close();
  // The tests recompute the rows at budget 1: without any, their loops would check nothing.
  expect(rows.filter((r) => r.budget === 1).length).toBeGreaterThan(0);
  return { out, rows, best, printed: exported.stdout };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('exporting the compressed model [slow]', () => {
  it('tfjs: the exported LayersModel loads with plain TensorFlow.js and scores what the search measured', { timeout: 180_000 }, async () => {
    const model = join(upscalerPackageDir(), 'models');
    const { out, rows } = searchAndExport(
      { model, out: 'db', units: ['GFF_2', 'UPN1', 'UPN2'], compression: { type: 'sparsity', method: 'magnitude', target: 0.6, stepsEachSide: 4 } },
      { type: 'psnr', patches: 1, slices: 2, patchSize: 24 },
      'tfjs',
    );
    const { tf } = await initTensorflow();
    const dense = await loadLayersModel(tf, readLayersModel(model));
    const compressed = await loadLayersModel(tf, readLayersModel(out));
    const pool = patches(CALIBRATION_PHOTOS.map(photo), 2, 24);
    const predict = (m: TF.LayersModel, x: Float32Array) => tf.tidy(() => (m.predict(tf.tensor4d(x, [1, 24, 24, 3])) as TF.Tensor).dataSync() as Float32Array);
    for (const row of rows.filter((r) => r.budget === 1)) {
      const patch = pool[row.slice % pool.length];
      const a = predict(compressed, patch);
      const b = predict(dense, patch);
      const mse = mean(Array.from(a, (v, i) => (v - b[i]) ** 2));
      expect(10 * Math.log10((255 * 255) / mse)).toBeCloseTo(row.fitness, 3);
    }
    dense.dispose();
    compressed.dispose();
  });

  it('tfjs: an exported classifier scores the calibration accuracy the search measured, and export reports its held-out accuracy', { timeout: 180_000 }, async () => {
    const model = join(ROOT, 'models', 'fashion-cnn');
    const { out, rows, printed } = searchAndExport(
      { model, out: 'db', units: ['conv4', 'conv5', 'conv6'], compression: { type: 'sparsity', method: 'magnitude', target: 0.7, stepsEachSide: 4 } },
      { type: 'accuracy', pictures: 200, slices: 3 },
      'tfjs',
    );
    const { tf } = await initTensorflow();
    const compressed = await loadLayersModel(tf, readLayersModel(out));
    const accuracy = (pictures: ReturnType<typeof loadPictures>, from: number, count: number) =>
      tf.tidy(() => {
        const x = tf.tensor4d(pictures.images.subarray(from * PICTURE_SIZE, (from + count) * PICTURE_SIZE), [count, 28, 28, 1]);
        const predicted = (compressed.predict(x) as TF.Tensor).argMax(-1).dataSync();
        return Array.from(predicted).reduce((n: number, p, i) => n + (p === pictures.labels[from + i] ? 1 : 0), 0) / count;
      });
    const calibration = loadPictures('calibration');
    for (const row of rows.filter((r) => r.budget === 1)) expect(accuracy(calibration, row.slice * 200, 200)).toBe(row.fitness);
    // The held-out table printed at export: its "search" row is the exported model on the 10,000 test pictures.
    const heldOut = loadPictures('heldOut');
    let correct = 0;
    for (let from = 0; from < heldOut.count; from += 1000) correct += accuracy(heldOut, from, 1000) * 1000;
    const searchRow = printed.split('\n').find((l) => l.startsWith('search'));
    expect(printed).toMatch(/held-out \(the 10,000 Fashion-MNIST test pictures/);
    expect(Number(searchRow?.trim().split(/\s+/)[1])).toBeCloseTo(correct / heldOut.count, 4);
    // The paired count against uniform adds up: pictures gained minus pictures lost is the difference in right answers.
    const uniformRow = printed.split('\n').find((l) => l.startsWith('uniform'));
    const [, gained, lost] = /right where uniform is wrong on (\d+), wrong where uniform is right on (\d+)/.exec(printed) ?? [];
    expect(Number(gained) - Number(lost)).toBe(Math.round(correct - Number(uniformRow?.trim().split(/\s+/)[1]) * heldOut.count));
    compressed.dispose();
  });

  it('safetensors: the exported Hugging Face directory loads and gives the KL the search measured', { timeout: 180_000 }, async () => {
    const model = join(ROOT, 'models', 'reference-lm');
    const { out, rows } = searchAndExport(
      { model, out: 'db', compression: { type: 'sparsity', method: 'magnitude', target: 0.5, stepsEachSide: 2 } },
      { type: 'kl', windows: 1, slices: 3 },
      'safetensors',
    );
    const dense = loadTransformer(model);
    const compressed = loadTransformer(out);
    const tokenizer = readTokenizer(out);
    const pool = windowsOf(sotuStreams((t) => tokenizer.encode(t)).calibration, 128, 3);
    const logits = async (m: typeof dense, w: Uint16Array) => {
      const session = await createSession(transformerGraph(m.config, 128, m.weights, false));
      return (await session.run(graphFeeds(m.config, w.subarray(0, 128), m.weights, false))).logits.data as Float32Array;
    };
    for (const row of rows.filter((r) => r.budget === 1)) {
      const w = pool[row.slice % pool.length];
      const [p, q] = [await logits(dense, w), await logits(compressed, w)];
      let kl = 0;
      for (let t = 0; t < 128; t++) {
        const lp = logSoftmax(p.subarray(t * 85, (t + 1) * 85));
        const lq = logSoftmax(q.subarray(t * 85, (t + 1) * 85));
        for (let v = 0; v < 85; v++) kl += Math.exp(lp[v]) * (lp[v] - lq[v]);
      }
      expect(kl / 128).toBeCloseTo(row.fitness, 6);
    }
  });
});

function logSoftmax(row: Float32Array): number[] {
  const max = Math.max(...row);
  const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
  return Array.from(row, (x) => x - lse);
}
