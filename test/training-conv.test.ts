import { describe, expect, it } from 'vitest';
import { initTensorflow, trainingConv2dSame } from '../src/runtime/tfjs.js';
import { im2col } from '../src/models/im2col.js';
import { Rng } from '../src/rng/rng.js';

/**
 * CNN students and the clothing classifier train through a hand-written convolution filter
 * gradient (src/runtime/tfjs.ts); a wrong one would train slowly rather than fail, so it is held
 * to the gradient of the same convolution written as im2col and one product, which tf derives itself.
 */
describe('trainingConv2dSame', async () => {
  const { tf } = await initTensorflow();
  const rng = Rng.fromSeed(11);
  const random = (shape: number[]) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape);

  for (const [batch, side, cin, cout, k] of [
    [3, 7, 1, 4, 3],
    [2, 6, 3, 5, 5],
  ]) {
    it(`has im2col's value and gradients for ${batch} × ${side}² × ${cin} → ${cout} at k = ${k}`, () => {
      const x = random([batch, side, side, cin]) as never;
      const kernel = random([k, k, cin, cout]) as never;
      const upstream = random([batch, side, side, cout]); // a fixed upstream gradient
      const viaIm2col = (p: never, q: never) => tf.matMul(im2col(tf, p, k, k, 'same'), (q as typeof upstream).reshape([k * k * cin, cout])).reshape([batch, side, side, cout]);
      const loss = (conv: (p: never, q: never) => typeof upstream) => (p: typeof upstream, q: typeof upstream) => conv(p as never, q as never).mul(upstream).sum();
      const ours = tf.grads(loss(trainingConv2dSame))([x, kernel]);
      const theirs = tf.grads(loss(viaIm2col))([x, kernel]);
      const close = (u: typeof upstream, v: typeof upstream) => tf.max(tf.abs(u.sub(v))).dataSync()[0];
      expect(close(trainingConv2dSame(x, kernel), viaIm2col(x, kernel))).toBeLessThan(1e-4);
      expect(close(ours[0], theirs[0])).toBeLessThan(1e-4);
      expect(close(ours[1], theirs[1])).toBeLessThan(1e-4);
      expect(tf.max(tf.abs(ours[1])).dataSync()[0]).toBeGreaterThan(0.1);
    });
  }
});
