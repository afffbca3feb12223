import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { Rng } from '../src/rng/rng.js';
import { loadTransformer, forward } from '../src/models/transformer.js';
import { studentLearningRate } from '../src/models/adam.js';
import { initTensorflow } from '../src/runtime/tfjs.js';
import { loadLayersModel, readLayersModel } from '../src/models/layers-model.js';
import { loadPictures } from '../src/data/fashion.js';
import type * as tf from '@tensorflow/tfjs';
import { ROOT, after, afterNextStep, cli, expectOneLineError, exportOf, runWithKills, tempDir } from './cli-helpers.js';

/** A tiny distillation search: students of 2–4 training steps; 8 generations (17 steps), so that 4 kills land before it ends on a fast machine. */
function tinyExperiment(dir: string): string {
  const file = join(dir, 'distill.json');
  writeFileSync(
    file,
    JSON.stringify({
      name: 'tiny-distill',
      seed: 5,
      workers: 2,
      space: {
        architecture: { family: 'gpt2', teacher: join(ROOT, 'models', 'reference-lm'), blocks: [1, 2], width: [8, 16, 24], heads: [1, 2, 4], mlpWidth: [16, 32, 64] },
        budget: { atMost: '24 KB' },
      },
      strategy: { type: 'evopress', generations: 8, offspring: 4, selection: [{ survivors: 2, budget: 2 }, { survivors: 1, budget: 4 }], finalists: 2 },
      fitness: { type: 'distill', batch: 2, windows: 2, slices: 2, validationSlices: 1 },
    }),
  );
  return file;
}

describe('distill fitness', () => {
  it('warms up over the first tenth of the steps, then decays to a tenth of the peak', () => {
    expect(studentLearningRate(0, 100, 1)).toBeCloseTo(0.1);
    expect(studentLearningRate(9, 100, 1)).toBeCloseTo(1);
    expect(studentLearningRate(99, 100, 1)).toBeCloseTo(0.1, 2);
    expect(studentLearningRate(0, 1, 1)).toBe(1);
  });

  it('gives the same export with 1 and 2 workers and after kill -9 at random moments, and trains a student the loader runs [slow]', { timeout: 900_000 }, async () => {
    const dir = tempDir();
    const file = tinyExperiment(dir);
    const one = cli(['run', file, '--db', join(dir, 'one.db'), '--run-id', 'r', '--workers', '1', '--json']);
    expect(one.code, one.stderr).toBe(0);
    const two = cli(['run', file, '--db', join(dir, 'two.db'), '--run-id', 'r', '--json']);
    expect(two.code, two.stderr).toBe(0);
    const expected = exportOf(join(dir, 'one.db'), 'r');
    expect(exportOf(join(dir, 'two.db'), 'r')).toBe(expected);
    const best = JSON.parse(expected);
    expect(best.cost).toBeLessThanOrEqual(24_000);
    expect(best.fitness).toBeGreaterThan(0); // KL to the teacher after a few steps
    expect(best.validation.slices).toBe(1);
    // Finalists are validated trained as long as they were when they won (budget 4), not for one step.
    const conn = new Database(join(dir, 'one.db'), { readonly: true });
    const validated = conn.prepare('SELECT DISTINCT budget FROM evaluations WHERE slice >= 2').all() as { budget: number }[];
    conn.close();
    expect(validated).toEqual([{ budget: 4 }]);

    const killed = join(dir, 'killed.db');
    const rng = Rng.fromSeed('distill-kills');
    let k = 0;
    const moment = (step: number) => (k++ % 2 === 0 ? after(500 + rng.next() * 3000) : afterNextStep(killed, 'r', step, rng.next() * 500));
    const outcome = await runWithKills(file, killed, 'r', 4, moment);
    expect(outcome.finished).toBe(true);
    expect(outcome.kills).toBe(4);
    expect(exportOf(killed, 'r')).toBe(expected);

    // The found student, trained by distillation, loads and runs in the plain forward pass.
    const out = join(dir, 'student');
    const e = cli(['export', 'r', '--db', killed, '--format', 'hf-config', '--train-steps', '3', '--out', out]);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toMatch(/trained 3 steps in \d+ s; held-out KL to the teacher \d+\.\d{4}, perplexity \d+\.\d{3} per character/);
    const student = loadTransformer(out);
    expect([student.config.nLayers, student.config.dModel, student.config.nHeads, student.config.dFf]).toEqual(best.units.map((u: { value: number }) => u.value));
    const logits = forward(student, [1, 2, 3, 4]);
    expect(logits.length).toBe(4 * 85);
    expect(logits.every(Number.isFinite)).toBe(true);
    // ... and `db build` takes it as its model: a found student can itself be compressed.
    const config = join(dir, 'student-db.json');
    writeFileSync(config, JSON.stringify({ model: out, out: join(dir, 'student-db'), compression: { type: 'sparsity', method: 'sparsegpt', target: 0.5 }, calibration: { windows: 4 } }));
    const built = cli(['db', 'build', config, '--json']);
    expect(built.code, built.stderr).toBe(0);
    expect(JSON.parse(built.stdout).units).toBe(4 * student.config.nLayers);
  });
});

describe('train fitness', () => {
  it('trains CNN students from labels and gives the same export with 1 and 2 workers; exports the trained student as a LayersModel; a distill fitness on a CNN space is refused in one line', async () => {
    const dir = tempDir();
    const file = join(dir, 'train.json');
    const space = {
      architecture: { family: 'cnn', teacher: join(ROOT, 'models', 'fashion-cnn'), stages: [1, 2], channels: [2, 4], kernels: [3, 5], dense: [8, 16] },
      budget: { atMost: '1/4' },
    };
    const experiment = (fitness: Record<string, unknown>) =>
      writeFileSync(file, JSON.stringify({ name: 'tiny-train', seed: 2, space, strategy: { type: 'evopress', generations: 2, offspring: 3, selection: [{ survivors: 1, budget: 3 }] }, fitness }));
    experiment({ type: 'train', batch: 8, pictures: 100, slices: 1, validationSlices: 1 });
    const runs = [1, 2].map((workers) => cli(['run', file, '--db', join(dir, `w${workers}.db`), '--run-id', 'r', '--workers', String(workers), '--json']));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const exported = [1, 2].map((workers) => exportOf(join(dir, `w${workers}.db`), 'r'));
    expect(exported[1]).toBe(exported[0]);
    const best = JSON.parse(exported[0]);
    // Accuracy on 100 calibration pictures after 3 steps: a measured share, not a constant.
    expect(best.fitness).toBeGreaterThan(0);
    expect(best.fitness).toBeLessThan(1);
    expect(Math.round(best.fitness * 100)).toBe(best.fitness * 100);
    expect(best.cost).toBeLessThanOrEqual(42_122);
    // The found student, trained, as a LayersModel that tfjs loads: its accuracy is what export printed.
    const out = join(dir, 'student');
    expectOneLineError(cli(['export', 'r', '--db', join(dir, 'w1.db'), '--format', 'tfjs', '--out', out]), /--format tfjs: run "r" searched CNN students, whose weights come from training: give --train-steps N/);
    const e = cli(['export', 'r', '--db', join(dir, 'w1.db'), '--format', 'tfjs', '--train-steps', '20', '--out', out]);
    expect(e.code, e.stderr).toBe(0);
    const printed = Number(/accuracy on Fashion-MNIST's test set (\d+\.\d+)%/.exec(e.stdout)![1]);
    const { tf } = await initTensorflow();
    const model = await loadLayersModel(tf, readLayersModel(out));
    expect(model.layers.filter((l) => l.getClassName() === 'Conv2D')).toHaveLength(best.units[0].value);
    const test = loadPictures('heldOut');
    const predicted = tf.tidy(() => (model.predict(tf.tensor4d(test.images, [test.count, 28, 28, 1])) as tf.Tensor).argMax(-1).dataSync());
    const accuracy = Array.from(predicted).filter((p, i) => p === test.labels[i]).length / test.count;
    expect((100 * accuracy).toFixed(2)).toBe(printed.toFixed(2));
    expect(accuracy).toBeGreaterThan(0.2); // 20 steps from labels: well above chance (10%)

    experiment({ type: 'distill' });
    expectOneLineError(cli(['run', file, '--db', join(dir, 'x.db')]), /fitness\.type: distill trains gpt2 students, but space\.architecture\.family is cnn/);
  });
});
