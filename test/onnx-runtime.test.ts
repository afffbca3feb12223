import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../src/runtime/onnx-graph.js';
import { createSession, floatTensor } from '../src/runtime/onnx.js';
import { Rng } from '../src/rng/rng.js';

const rng = Rng.fromSeed('onnx');
const random = (n: number) => Float32Array.from({ length: n }, () => rng.normal() * 0.1);

/** y = relu(x·W1 + b1)·W2, written out longhand as the reference. */
function referenceMlp(x: Float32Array, w1: Float32Array, b1: Float32Array, w2: Float32Array, batch: number, d: number, h: number): Float32Array {
  const y = new Float32Array(batch * d);
  const hidden = new Float64Array(h);
  for (let r = 0; r < batch; r++) {
    for (let j = 0; j < h; j++) {
      let s = b1[j];
      for (let k = 0; k < d; k++) s += x[r * d + k] * w1[k * h + j];
      hidden[j] = Math.max(0, s);
    }
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < h; k++) s += hidden[k] * w2[k * d + j];
      y[r * d + j] = s;
    }
  }
  return y;
}

describe('onnxruntime with graphs built in TypeScript', () => {
  const [batch, d, h] = [8, 16, 32];
  const x = random(batch * d);
  const w1 = random(d * h);
  const b1 = random(h);
  const w2 = random(h * d);
  const expected = referenceMlp(x, w1, b1, w2, batch, d, h);

  it.each([true, false])('an MLP matches the reference (weights as inputs: %s)', async (asInputs) => {
    const g = new GraphBuilder();
    const input = g.input('x', ['batch', d]);
    const hidden = g.op('Relu', [g.op('Add', [g.op('MatMul', [input, g.weight('w1', [d, h], w1, asInputs)]), g.weight('b1', [h], b1, asInputs)])]);
    g.output(g.op('MatMul', [hidden, g.weight('w2', [h, d], w2, asInputs)]), 'y', ['batch', d]);
    const session = await createSession(g.encode());
    const feeds: Record<string, ReturnType<typeof floatTensor>> = { x: floatTensor(x, [batch, d]) };
    if (asInputs) Object.assign(feeds, { w1: floatTensor(w1, [d, h]), b1: floatTensor(b1, [h]), w2: floatTensor(w2, [h, d]) });
    const y = (await session.run(feeds)).y.data as Float32Array;
    expect(y).toHaveLength(expected.length);
    let worst = 0;
    for (let i = 0; i < y.length; i++) worst = Math.max(worst, Math.abs(y[i] - expected[i]));
    expect(worst).toBeLessThan(1e-5);
  });

  it('refuses a GPU provider this install lacks with one line that says what to do', async () => {
    const g = new GraphBuilder();
    g.output(g.op('Relu', [g.input('x', [1])]), 'y', [1]);
    await expect(createSession(g.encode(), 'cuda')).rejects.toThrow(/device cuda: .*ONNXRUNTIME_NODE_INSTALL=cuda12/);
  });

  it('refuses webgpu without a usable adapter with advice for webgpu, not for CUDA', async () => {
    const g = new GraphBuilder();
    g.output(g.op('Relu', [g.input('x', [1])]), 'y', [1]);
    const error = await createSession(g.encode(), 'webgpu').then(
      () => null,
      (err: Error) => err,
    );
    // A machine with a WebGPU adapter starts the session: there is nothing to refuse there.
    if (error === null) return;
    expect(error.message).toMatch(/^device webgpu: /);
    expect(error.message).not.toMatch(/CUDA|cuda12|npm install/i);
    expect(error.message).not.toContain('\n');
    expect(error.message).toMatch(/no WebGPU adapter.*use --device cpu$/);
  });
});
