import { describe, expect, it, beforeAll, afterAll, vi } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildDatabase } from '../src/compress/build.js';
import { loadDatabaseConfig } from '../src/compress/config.js';
import type { Manifest } from '../src/compress/manifest.js';
import { readUnitLevels } from './helpers.js';
import { firstPointAffected, residualPoints, weightShapes } from '../src/models/config.js';
import { LmFitness, type LmFitnessSpec } from '../src/fitness/lm.js';
import { PrefixReuse } from '../src/fitness/prefix-reuse.js';
import { loadTransformer } from '../src/models/transformer.js';
import { readTokenizer } from '../src/models/tokenizer.js';
import { sotuStreams, windowsOf } from '../src/data/text.js';
import { meanNll } from '../src/data/windows.js';
import { transformerGraph, graphFeeds } from '../src/models/transformer-onnx.js';
import { createSession } from '../src/runtime/onnx.js';
import { ROOT, tempDir } from './cli-helpers.js';

const MODEL = join(ROOT, 'models', 'reference-lm');

/** LmFitness on a small magnitude database of the reference model (no calibration: builds in about a second). */
describe('language-model fitness', () => {
  let manifest: Manifest;
  let database: string;
  const open: LmFitness[] = [];
  const fitness = async (overrides: Partial<LmFitnessSpec> = {}) => {
    const spec: LmFitnessSpec = { type: 'kl', database, model: MODEL, windows: 2, slices: 3, validationSlices: 0, length: 128, topK: 16, cacheMiB: 256, prefixCacheMiB: 256, levelCacheMiB: 1024, backend: 'onnx', device: 'cpu', minimize: true, timeout: 3600, ...overrides };
    const f = await LmFitness.load(spec);
    open.push(f);
    return f;
  };
  const uniform = () => [...manifest.uniform];
  /** The uniform genome with two units moved to their sparsest and densest levels. */
  const skewed = () => {
    const g = uniform();
    g[0] = manifest.units[0].levels.length - 1;
    g[5] = 0;
    return g;
  };

  beforeAll(async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'db.json'), JSON.stringify({ model: MODEL, out: 'db', compression: { type: 'sparsity', method: 'magnitude', target: 0.6, stepsEachSide: 2 } }));
    const config = loadDatabaseConfig(join(dir, 'db.json'));
    manifest = (await buildDatabase(config)).manifest;
    database = config.outDir;
  });
  afterAll(async () => {
    for (const f of open) await f.close();
  });

  it('scores a compressed configuration above 0, and the dense model at exactly 0 on held-out text', async () => {
    const f = await fitness();
    expect(await f.evaluate(uniform(), { budget: 1, slice: 0 })).toBeGreaterThan(1e-5);
    const [dense, compressed] = await f.measureHeldOut([null, uniform()]);
    expect(dense.kl).toBeCloseTo(0, 9);
    expect(compressed.kl).toBeGreaterThan(1e-5);
    expect(compressed.ppl).toBeGreaterThan(dense.ppl);
  });

  it('stitches: a value does not depend on what was evaluated before, nor on the cache size', async () => {
    const a = await fitness();
    const first = await a.evaluate(skewed(), { budget: 1, slice: 1 });
    await a.evaluate(uniform(), { budget: 2, slice: 2 });
    expect(await a.evaluate(skewed(), { budget: 1, slice: 1 })).toBe(first);
    const fresh = await fitness({ cacheMiB: 0.05, levelCacheMiB: 0.2 }); // room for one teacher window and one level tensor
    await fresh.evaluate(uniform(), { budget: 2, slice: 0 });
    expect(await fresh.evaluate(skewed(), { budget: 1, slice: 1 })).toBe(first);
  });

  it('runs the model only on windows it has not scored for the same configuration, and gives the same value as a fresh worker', async () => {
    const runs = vi.spyOn(PrefixReuse.prototype, 'logits');
    const warm = await fitness();
    await warm.evaluate(skewed(), { budget: 1, slice: 2 }); // windows 4, 5 (and the teacher's)
    runs.mockClear();
    const reused = await warm.evaluate(skewed(), { budget: 2, slice: 2 }); // windows 4, 5, 0, 1
    expect(runs).toHaveBeenCalledTimes(2 + 2); // two new windows: the candidate's and the teacher's logits
    runs.mockClear();
    expect(await warm.evaluate(skewed(), { budget: 2, slice: 2 })).toBe(reused);
    expect(runs).not.toHaveBeenCalled();
    const fresh = await fitness();
    expect(await fresh.evaluate(skewed(), { budget: 2, slice: 2 })).toBe(reused);
    runs.mockRestore();
  });

  it('prefix reuse: offspring get the values of whole passes, and skip the sub-blocks before the first unit they change', async () => {
    const whole = await fitness({ prefixCacheMiB: 0 });
    const reusing = await fitness();
    expect(whole.prefixReuse).toBeNull();
    const parent = uniform();
    const last = manifest.units.length - 1;
    // Offspring that move a unit of the last block, of the first, and two units at once.
    const offspring = [last, last - 1, 0, 7].map((u) => {
      const g = parent.slice();
      g[u] = g[u] === 0 ? 1 : g[u] - 1;
      if (u === 7) g[last] = 0;
      return g;
    });
    for (const g of [parent, ...offspring]) {
      expect(await reusing.evaluate(g, { budget: 1, slice: 0 })).toBe(await whole.evaluate(g, { budget: 1, slice: 0 }));
    }
    // The teacher and the parent run whole; each offspring starts at the stream just before the
    // first point its changed units affect (the parent's, cached).
    const config = loadTransformer(MODEL).config;
    const subBlocks = residualPoints(config) - 1;
    const affects = (u: number) => Math.min(...manifest.units[u].weights.map((w) => firstPointAffected(config, w)));
    const skippedBy = offspring.map((g) => Math.max(0, Math.min(...g.flatMap((level, u) => (level === parent[u] ? [] : [affects(u)]))) - 1));
    const total = skippedBy.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(subBlocks); // the case is not trivial
    expect(reusing.prefixReuse!.skipped).toBeCloseTo(total / ((2 + offspring.length) * subBlocks), 12);
  });

  it('reads ⌈budget · windows⌉ windows of the slice: racing budgets see more text', async () => {
    const f = await fitness();
    expect(f.windowsFor({ budget: 1, slice: 0 })).toEqual([0, 1]);
    expect(f.windowsFor({ budget: 2, slice: 2 })).toEqual([4, 5, 0, 1]);
    expect(f.windowsFor({ budget: 0.1, slice: 1 })).toEqual([2]);
  });

  it('validation slices: the search reads the same text as without them; validation slices read text no search slice reads', async () => {
    const plain = await fitness();
    const f = await fitness({ validationSlices: 2 });
    expect(f.pool).toHaveLength(10);
    // The 6 search windows are the same text, at every budget.
    expect(f.pool.slice(0, 6).map((w) => w.byteOffset)).toEqual(plain.pool.map((w) => w.byteOffset));
    for (const budget of [1, 4]) for (const slice of [0, 1, 2]) expect(f.windowsFor({ budget, slice })).toEqual(plain.windowsFor({ budget, slice }));
    expect(f.windowsFor({ budget: 1, slice: 3 })).toEqual([6, 7]);
    expect(f.windowsFor({ budget: 4, slice: 4 })).toEqual([8, 9, 6, 7, 8, 9, 6, 7]);
    // No token of a validation window is in a search window.
    const tokens = (indices: number[]) => indices.map((i) => [f.pool[i].byteOffset / 2, f.pool[i].byteOffset / 2 + f.pool[i].length]);
    const search = tokens([0, 1, 2, 3, 4, 5]);
    for (const [a0, a1] of tokens([6, 7, 8, 9])) for (const [b0, b1] of search) expect(a1 <= b0 || b1 <= a0).toBe(true);
    // A validation slice scores the same configuration on other text.
    const onValidation = await f.evaluate(skewed(), { budget: 1, slice: 3 });
    expect(onValidation).toBeGreaterThan(0);
    expect(await f.evaluate(skewed(), { budget: 1, slice: 0 })).toBe(await plain.evaluate(skewed(), { budget: 1, slice: 0 }));
    expect(onValidation).not.toBe(await f.evaluate(skewed(), { budget: 1, slice: 0 }));
    await expect(f.evaluate(skewed(), { budget: 1, slice: 5 })).rejects.toThrow(/bug: fidelity slice 5/);
  });

  it('kl-topk lumps the tail: equal to kl with K = vocabulary, and never above it (coarser distributions)', async () => {
    const full = await (await fitness()).evaluate(skewed(), { budget: 1, slice: 0 });
    const everything = await (await fitness({ type: 'kl-topk', topK: 85 })).evaluate(skewed(), { budget: 1, slice: 0 });
    expect(Math.abs(everything - full)).toBeLessThan(1e-6 * full + 1e-9);
    const top4 = await (await fitness({ type: 'kl-topk', topK: 4 })).evaluate(skewed(), { budget: 1, slice: 0 });
    expect(top4).toBeLessThanOrEqual(full + 1e-9);
    expect(top4).toBeGreaterThan(0.3 * full);
  });

  it('ppl is exp(mean next-token NLL) of the configuration, stitched and computed independently here', async () => {
    const f = await fitness({ type: 'ppl' });
    const model = loadTransformer(MODEL);
    const genome = skewed();
    const shapes = weightShapes(model.config);
    manifest.units.forEach((unit, i) => {
      const level = unit.levels[genome[i]];
      if (level.tensors === 'file') model.weights.set(unit.weights[0], readUnitLevels(database, manifest, i, shapes).get(genome[i])!);
    });
    const tokenizer = readTokenizer(MODEL);
    const pool = windowsOf(sotuStreams((t) => tokenizer.encode(t)).calibration, 128, 6);
    const session = await createSession(transformerGraph(model.config, 128, model.weights, false));
    let nll = 0;
    for (const w of pool.slice(2, 4)) {
      const logits = (await session.run(graphFeeds(model.config, w.subarray(0, 128), model.weights, false))).logits.data as Float32Array;
      nll += meanNll(logits, w.subarray(1), model.config.vocabSize);
    }
    expect(await f.evaluate(genome, { budget: 1, slice: 1 })).toBeCloseTo(Math.exp(nll / 2), 4);
  });

  it('tfjs and onnx give the same fitness for the same configuration', async () => {
    const onnx = await (await fitness()).evaluate(skewed(), { budget: 1, slice: 2 });
    const tfjs = await (await fitness({ backend: 'tfjs' })).evaluate(skewed(), { budget: 1, slice: 2 });
    expect(Math.abs(tfjs - onnx)).toBeLessThan(1e-3 * onnx);
  });
});
