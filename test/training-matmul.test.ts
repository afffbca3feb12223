import { describe, expect, it } from 'vitest';
import { initTensorflow, trainingMatmul } from '../src/runtime/tfjs.js';
import { Rng } from '../src/rng/rng.js';

/**
 * The reference model trains through a hand-written matMul gradient (src/runtime/tfjs.ts); a wrong
 * gradient there would train a model slowly rather than fail loudly, so it is held to tf's own.
 */
describe('trainingMatmul', async () => {
  const { tf } = await initTensorflow();
  const rng = Rng.fromSeed(7);
  const random = (shape: number[]) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape);

  // 2-D as in the dense layers, 4-D batched as in attention (scores = q·kᵀ, then softmax·v).
  for (const [a, b] of [
    [[6, 5], [5, 7]],
    [[2, 3, 6, 4], [2, 3, 4, 6]],
  ]) {
    it(`has tf.matMul's value and gradients for ${JSON.stringify(a)} · ${JSON.stringify(b)}`, () => {
      const x = random(a);
      const y = random(b);
      const w = random([...a.slice(0, -1), b[b.length - 1]]); // a fixed upstream gradient
      const f = (mm: (p: typeof x, q: typeof x) => typeof x) => (p: typeof x, q: typeof x) => mm(p, q).mul(w).sum();
      const ours = tf.grads(f(trainingMatmul))([x, y]);
      const theirs = tf.grads(f((p, q) => tf.matMul(p, q)))([x, y]);
      const close = (u: typeof x, v: typeof x) => tf.max(tf.abs(u.sub(v))).dataSync()[0];
      expect(close(trainingMatmul(x, y), tf.matMul(x, y))).toBeLessThan(1e-5);
      expect(close(ours[0], theirs[0])).toBeLessThan(1e-4);
      expect(close(ours[1], theirs[1])).toBeLessThan(1e-4);
    });
  }
});
