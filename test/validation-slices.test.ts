import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { samplesFor, type SampleLayout } from '../src/fitness/types.js';
import { fitnessSchema, loadFitness } from '../src/fitness/load.js';
import { lmLayout } from '../src/fitness/samples.js';
import { imageLayout } from '../src/fitness/image.js';
import { classifierLayout, validationRoomProblem } from '../src/fitness/classifier.js';
import { syntheticFitnessSchema } from '../src/fitness/synthetic.js';
import { calibrationWindows, sotuStreams, windowsOf } from '../src/data/text.js';
import { windowsBetween } from '../src/data/windows.js';
import { CALIBRATION_PHOTOS, patchOrigin, patches, photo } from '../src/data/photos.js';
import { loadPictures } from '../src/data/fashion.js';
import { readTokenizer } from '../src/models/tokenizer.js';
import { readExperiment } from '../src/config/load.js';
import { ROOT, tempDir } from './cli-helpers.js';

/** The mapping every fitness used before validation slices: ⌈budget·perBudget⌉ samples from slice·perBudget on, wrapping within the pool. */
function oldSamplesFor(budget: number, slice: number, perBudget: number, poolSize: number): number[] {
  const n = Math.max(1, Math.ceil(budget * perBudget - 1e-9));
  return Array.from({ length: n }, (_, i) => (slice * perBudget + i) % poolSize);
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Samples every search slice reads at these budgets, and those of every validation slice. */
function readsOf(layout: SampleLayout, budgets: number[]) {
  const search = new Set<number>();
  for (const budget of budgets) for (const slice of range(layout.slices)) for (const i of samplesFor({ budget, slice }, layout)) search.add(i);
  const validation = new Set<number>();
  for (const budget of budgets) for (const k of range(layout.validationSlices)) for (const i of samplesFor({ budget, slice: layout.slices + k }, layout)) validation.add(i);
  return { search, validation };
}

const shared = (a: Set<number>, b: Set<number>) => [...a].filter((i) => b.has(i));

describe('validation slices: the sample mapping', () => {
  // perBudget, slices, validationSlices, as the fitnesses' defaults and experiments have them, and odd ones.
  const layouts: SampleLayout[] = [
    { perBudget: 4, slices: 16, validationSlices: 4 },
    { perBudget: 2, slices: 16, validationSlices: 4 },
    { perBudget: 1, slices: 1, validationSlices: 4 },
    { perBudget: 3, slices: 5, validationSlices: 1 },
    { perBudget: 7, slices: 2, validationSlices: 9 },
  ];
  const budgets = [0.3, 1, 2.5, 4, 16, 33];

  it('search slices read exactly what they read before, at every budget', () => {
    for (const layout of layouts) {
      for (const budget of budgets) {
        for (const slice of range(layout.slices)) {
          expect(samplesFor({ budget, slice }, layout)).toEqual(oldSamplesFor(budget, slice, layout.perBudget, layout.perBudget * layout.slices));
        }
      }
    }
  });

  it('validation slices read only their own region, never what a search slice reads at any budget', () => {
    for (const layout of layouts) {
      const { search, validation } = readsOf(layout, budgets);
      const start = layout.perBudget * layout.slices;
      expect(shared(search, validation)).toEqual([]);
      expect(Math.min(...validation)).toBe(start);
      expect(Math.max(...validation)).toBe(start + layout.perBudget * layout.validationSlices - 1);
      expect(Math.max(...search)).toBe(start - 1);
    }
  });

  it('gives each validation slice its own samples at budget 1, and more of its region at budget 4', () => {
    const layout = { perBudget: 4, slices: 16, validationSlices: 4 };
    expect(range(4).map((k) => samplesFor({ budget: 1, slice: 16 + k }, layout))).toEqual(range(4).map((k) => range(4).map((i) => 64 + 4 * k + i)));
    // Budget 4 reads the whole 16-sample region, starting at the slice's own samples.
    expect(samplesFor({ budget: 4, slice: 18 }, layout)).toEqual([...range(8).map((i) => 72 + i), ...range(8).map((i) => 64 + i)]);
  });

  it('throws for a slice that is neither a search nor a validation slice', () => {
    const layout = { perBudget: 4, slices: 16, validationSlices: 4 };
    expect(() => samplesFor({ budget: 1, slice: 20 }, layout)).toThrow(/bug: fidelity slice 20 is outside the 16 search slice\(s\) and 4 validation slice\(s\)/);
    expect(() => samplesFor({ budget: 1, slice: -1 }, layout)).toThrow(/bug: fidelity slice -1/);
    expect(() => samplesFor({ budget: 1, slice: 1.5 }, layout)).toThrow(/bug: fidelity slice 1.5/);
    expect(() => samplesFor({ budget: 1, slice: 16 }, { ...layout, validationSlices: 0 })).toThrow(/bug: fidelity slice 16/);
  });

  it('throws rather than let a search slice read validation samples (a search pool that reaches them)', () => {
    const layout = { perBudget: 10, slices: 3, validationSlices: 2, searchPool: 100, validationStart: 80 };
    expect(samplesFor({ budget: 4, slice: 2 }, layout)).toEqual(range(40).map((i) => 20 + i));
    expect(() => samplesFor({ budget: 7, slice: 2 }, layout)).toThrow(/fidelity budget 7 on search slice 2 reads sample 80, which is reserved for validation \(samples 80\.\.99\)/);
  });
});

describe('validation slices in each fitness', () => {
  it('are a fitness setting: 4 by default, 0 allowed, never negative or fractional', () => {
    for (const type of ['kl', 'kl-topk', 'ppl', 'psnr', 'accuracy', 'synthetic']) expect(fitnessSchema.parse({ type }).validationSlices).toBe(4);
    expect(fitnessSchema.parse({ type: 'module', path: 'f.mjs' }).validationSlices).toBe(4);
    expect(fitnessSchema.parse({ type: 'command', command: ['x'], validationSlices: 0 }).validationSlices).toBe(0);
    expect(fitnessSchema.safeParse({ type: 'kl', validationSlices: -1 }).success).toBe(false);
    expect(fitnessSchema.safeParse({ type: 'kl', validationSlices: 1.5 }).success).toBe(false);
  });

  it('language models: the search windows stay where they were; validation windows fill the gaps and share no token with them', () => {
    const tokenizer = readTokenizer(join(ROOT, 'models', 'reference-lm'));
    const ids = sotuStreams((t) => tokenizer.encode(t)).calibration;
    const length = 128;
    const spec = fitnessSchema.parse({ type: 'kl' }) as { windows: number; slices: number; validationSlices: number };
    expect([spec.windows, spec.slices, spec.validationSlices]).toEqual([4, 16, 4]);
    for (const { windows, slices, validationSlices } of [spec, { windows: 1, slices: 8, validationSlices: 4 }, { windows: 4, slices: 1, validationSlices: 4 }]) {
      const searchCount = windows * slices;
      const pool = calibrationWindows(ids, length, searchCount, windows * validationSlices);
      expect(pool).toHaveLength(windows * (slices + validationSlices));
      // The same windows, at the same places in the text, as before.
      const before = windowsOf(ids, length, searchCount);
      expect(pool.slice(0, searchCount).map((w) => w.byteOffset)).toEqual(before.map((w) => w.byteOffset));
      // What each slice reads, at budgets 1 and 4, as token ranges of the calibration text.
      const layout = lmLayout({ windows, slices, validationSlices });
      const { search, validation } = readsOf(layout, [1, 4]);
      expect(search.size).toBe(searchCount);
      expect(validation.size).toBe(windows * validationSlices);
      const span = (i: number) => [pool[i].byteOffset / 2, pool[i].byteOffset / 2 + pool[i].length] as const;
      for (const v of validation) {
        for (const s of search) {
          const [a, b] = [span(v), span(s)];
          expect(a[1] <= b[0] || b[1] <= a[0], `validation window ${v} [${a}] overlaps search window ${s} [${b}]`).toBe(true);
        }
      }
    }
  });

  it('language models: a text too short for the validation windows says how many fit', () => {
    // 10 search windows of 9 tokens, stride 30: each gap holds 2 more windows.
    expect(windowsBetween(300, 8, 10, 20)).toHaveLength(20);
    expect(() => windowsBetween(300, 8, 10, 21)).toThrow(/the text has room for only 20 windows of 9 tokens beside the 10 search windows, 21 asked/);
    expect(windowsBetween(300, 8, 10, 0)).toEqual([]);
  });

  it('psnr: the search patches are the ones it always read; validation patches follow and share no pixel with them', () => {
    const photos = CALIBRATION_PHOTOS.map(photo);
    for (const { patches: perBudget, slices, patchSize } of [fitnessSchema.parse({ type: 'psnr' }) as { patches: number; slices: number; patchSize: number }, { patches: 2, slices: 16, patchSize: 32 }]) {
      const validationSlices = 4;
      const pool = patches(photos, perBudget * (slices + validationSlices), patchSize);
      expect(pool.slice(0, perBudget * slices)).toEqual(patches(photos, perBudget * slices, patchSize));
      const layout = imageLayout({ patches: perBudget, slices, validationSlices });
      for (const budget of [1, 4]) for (const slice of range(slices)) expect(samplesFor({ budget, slice }, layout)).toEqual(oldSamplesFor(budget, slice, perBudget, perBudget * slices));
      const { search, validation } = readsOf(layout, [1, 4]);
      expect(validation.size).toBe(perBudget * validationSlices);
      expect(shared(search, validation)).toEqual([]);
      for (const v of validation) {
        for (const s of search) {
          const [a, b] = [patchOrigin(photos, v, patchSize), patchOrigin(photos, s, patchSize)];
          const apart = a.image !== b.image || Math.abs(a.x - b.x) >= patchSize || Math.abs(a.y - b.y) >= patchSize;
          expect(apart, `validation patch ${v} overlaps search patch ${s}`).toBe(true);
        }
      }
    }
  });

  it('accuracy: validation pictures are the last of the calibration split, out of the search’s reach at budgets 1 and 4', () => {
    const count = loadPictures('calibration').count;
    expect(count).toBe(5000);
    const spec = fitnessSchema.parse({ type: 'accuracy' }) as { pictures: number; slices: number; validationSlices: number };
    expect([spec.pictures, spec.slices, spec.validationSlices]).toEqual([250, 6, 4]);
    const layout = classifierLayout(spec, count);
    for (const budget of [1, 4]) for (const slice of range(spec.slices)) expect(samplesFor({ budget, slice }, layout)).toEqual(oldSamplesFor(budget, slice, 250, count));
    const { search, validation } = readsOf(layout, [1, 4]);
    expect([Math.min(...validation), Math.max(...validation), validation.size]).toEqual([4000, 4999, 1000]);
    expect(Math.max(...search)).toBe(2249);
    expect(shared(search, validation)).toEqual([]);
    // The defaults leave room up to budget 11: slice 5 then reads pictures 1250..3999.
    expect(validationRoomProblem(spec, 11, count)).toBeNull();
    expect(validationRoomProblem(spec, 11.01, count)).toMatch(/^expected validationSlices × pictures \(4 × 250\) to fit in the 5000 calibration pictures beside the 4003 that 6 search slices read at fidelity budget 11.01/);
    expect(() => samplesFor({ budget: 12, slice: 5 }, layout)).toThrow(/reserved for validation/);
    // Old runs reserve nothing, and their searches read what they read at any budget.
    expect(samplesFor({ budget: 16, slice: 5 }, classifierLayout({ ...spec, validationSlices: 0 }, count))).toEqual(oldSamplesFor(16, 5, 250, count));
  });

  it('accuracy: an experiment whose search leaves no room for its validation pictures stops with one line naming the field', () => {
    const dir = tempDir();
    const write = (fitness: object, selection = [{ survivors: 4, budget: 1 }, { survivors: 1, budget: 6 }]) => {
      const file = join(dir, `e${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(file, JSON.stringify({ name: 'e', space: { database: 'db.json' }, strategy: { type: 'evopress', generations: 1, selection }, fitness }));
      return file;
    };
    // The shipped fashion experiments' settings: 10 slices of 500 pictures read the whole split.
    const full = write({ type: 'accuracy', pictures: 500, slices: 10 });
    expect(() => readExperiment(full)).toThrow(
      new RegExp(`^${full}: fitness\\.validationSlices: expected validationSlices × pictures \\(4 × 500\\) to fit in the 5000 calibration pictures beside the 7500 that 10 search slices read at fidelity budget 6; lower validationSlices \\(0 reserves none\\), slices, pictures or the strategy's budget$`),
    );
    expect(() => readExperiment(write({ type: 'accuracy', pictures: 500, slices: 10, validationSlices: 2 }, [{ survivors: 1, budget: 1 }]))).toThrow(/fitness\.validationSlices: .*\(2 × 500\).*beside the 5000 .*\(got 2\)$/);
    expect(readExperiment(write({ type: 'accuracy', pictures: 500, slices: 10, validationSlices: 0 })).input.fitness.validationSlices).toBe(0);
    expect(readExperiment(write({ type: 'accuracy' })).input.fitness.validationSlices).toBe(4);
    for (const name of ['fashion-sparsegpt-50', 'fashion-sparsegpt-70', 'fashion-gptq-4bit', 'fashion-gptq-3bit']) {
      expect(readExperiment(join(ROOT, 'experiments', 'fashion', `${name}.json`)).input.fitness.validationSlices).toBe(0);
    }
  });

  it('synthetic: each validation slice draws its own noise, and a slice past them is refused', async () => {
    const spec = syntheticFitnessSchema.parse({ type: 'synthetic', noise: 1, slices: 3, validationSlices: 2 });
    const space = { units: range(4).map((i) => ({ name: `u${i}`, levels: [0, 1, 2], cost: [3, 2, 1] })), budget: { total: 12, mode: 'atMost' as const } };
    const fitness = await loadFitness(spec, { space, seed: 1 });
    const genome = [1, 0, 2, 1];
    const values = await Promise.all(range(5).map((slice) => fitness.evaluate(genome, { budget: 1, slice })));
    expect(new Set(values).size).toBe(5);
    expect(await fitness.evaluate(genome, { budget: 1, slice: 3 })).toBe(values[3]);
    expect(() => fitness.evaluate(genome, { budget: 1, slice: 5 })).toThrow(/bug: fidelity slice 5 is outside the 3 search slice\(s\) and 2 validation slice\(s\)/);
  });
});
