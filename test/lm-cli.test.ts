import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../src/rng/rng.js';
import { writeSafetensors } from '../src/models/safetensors.js';
import { floatTensors, modelCopy } from './helpers.js';
import { ROOT, after, afterNextStep, cli, runWithKills, tempDir, withoutTimestamps } from './cli-helpers.js';

/**
 * The language-model path through the CLI: a small magnitude database of the reference model
 * (no calibration, so it builds in about a second) and short evopress searches on KL.
 */
const MODEL = join(ROOT, 'models', 'reference-lm');

function setup(overrides: { fitness?: object; model?: string; generations?: number; compression?: object } = {}) {
  const dir = tempDir();
  const dbConfig = join(dir, 'db.json');
  writeFileSync(
    dbConfig,
    JSON.stringify({ model: overrides.model ?? MODEL, out: 'db', compression: overrides.compression ?? { type: 'sparsity', method: 'magnitude', target: 0.5, stepsEachSide: 3 } }),
  );
  const experiment = join(dir, 'experiment.json');
  writeFileSync(
    experiment,
    JSON.stringify({
      name: 'lm-small',
      seed: 3,
      space: { database: 'db.json' },
      strategy: { type: 'evopress', generations: overrides.generations ?? 12, offspring: 8, selection: [{ survivors: 2, budget: 1 }, { survivors: 1, budget: 2 }] },
      fitness: { type: 'kl', windows: 1, slices: 4, ...overrides.fitness },
      workers: 2,
    }),
  );
  return { dir, dbConfig, experiment, db: join(dir, 'runs.db') };
}

function oneLineError(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  expect(r.code).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^evosearch: error: /);
  expect(lines[0]).toMatch(pattern);
}

/** A copy of the reference model whose files can be spoiled. */
describe('language-model runs through the CLI', () => {
  it('runs, prints the backend, and compares with uniform on held-out text [slow]', { timeout: 240_000 }, () => {
    const { experiment, db } = setup();
    const r = cli(['run', experiment, '--db', db, '--run-id', 'a']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/kl fitness on onnx \(cpu\)/);
    expect(r.stdout).toMatch(/^uniform\s+\d/m);
    expect(r.stdout).toMatch(/^search\s+\d/m);
    const heldOut = JSON.parse(cli(['heldout', 'a', '--db', db, '--json']).stdout) as { configuration: string; kl: number; ppl: number }[];
    expect(heldOut.map((row) => row.configuration)).toEqual(['dense', 'uniform', 'search']);
    expect(heldOut[0].kl).toBeCloseTo(0, 9);
    expect(heldOut[1].kl).toBeGreaterThan(0);
    const stored = JSON.parse(cli(['status', 'a', '--db', db, '--json']).stdout);
    expect(stored.status).toBe('finished');
    expect(stored.fitness).toBe('kl on onnx (cpu)'); // stored with the run
  });

  it('exports the same with 1 and 2 workers: the last racing stage\'s few candidates have their windows split among workers [slow]', { timeout: 240_000 }, () => {
    // 8 offspring, then 2 survivors and the parent at budget 2: 3 candidates of 2 windows, fewer than 2 workers keep busy.
    const { experiment, dir } = setup({ generations: 6, fitness: { windows: 1, slices: 4, type: 'ppl' } });
    const exports = [1, 2].map((workers) => {
      const db = join(dir, `w${workers}.db`);
      expect(cli(['run', experiment, '--db', db, '--run-id', 'w', '--workers', String(workers), '--json']).code).toBe(0);
      return withoutTimestamps(cli(['export', 'w', '--db', db]).stdout);
    });
    expect(exports[1]).toBe(exports[0]);
    expect(JSON.parse(exports[0]).fitness).toBeGreaterThan(1); // a perplexity
  });

  it('gives the uninterrupted export after kill -9 at random moments of a neural run [slow]', { timeout: 600_000 }, async () => {
    // About 1 s of start-up (model, corpus, sessions) and 7 s of search on a quiet 2-core machine.
    const { experiment, dbConfig, dir } = setup({ generations: 150 });
    expect(cli(['db', 'build', dbConfig]).code).toBe(0); // kills below land in the search, not the build
    const reference = join(dir, 'reference.db');
    expect(cli(['run', experiment, '--db', reference, '--run-id', 'r', '--json']).code).toBe(0);
    const expected = withoutTimestamps(cli(['export', 'r', '--db', reference]).stdout);

    const db = join(dir, 'killed.db');
    const rng = Rng.fromSeed('neural-kills');
    // Kills alternate between a random moment after the start (start-up or early search, whatever
    // the machine's speed) and a random moment after the run has committed one more step.
    let k = 0;
    const moment = (step: number) => (k++ % 2 === 0 ? after(300 + rng.next() * 1500) : afterNextStep(db, 'r', step, rng.next() * 400));
    const { kills, stepsAtKill, finished } = await runWithKills(experiment, db, 'r', 6, moment);
    expect(finished).toBe(true);
    expect(kills).toBe(6);
    // At least three kills interrupted the search itself, each after more progress than the last.
    expect(new Set(stepsAtKill.filter((step) => step > 0)).size).toBeGreaterThanOrEqual(3);
    expect(withoutTimestamps(cli(['export', 'r', '--db', db]).stdout)).toBe(expected);
  });

  it('stores the uniform, owl and dp baselines as runs on the experiment\'s database and budget [slow]', { timeout: 240_000 }, () => {
    const { experiment, db, dir } = setup();
    const dp = cli(['baseline', 'dp', experiment, '--db', db, '--run-id', 'dp', '--json']);
    expect(dp.code, dp.stderr).toBe(0);
    const { status, result } = JSON.parse(dp.stdout) as { status: string; result: { cost: number; budget: { total: number }; units: unknown[]; strategy: string; provenance: { evaluations: number } } };
    expect(status).toBe('finished');
    expect(result.strategy).toBe('dp');
    expect(result.cost).toBeLessThanOrEqual(result.budget.total);
    // The dense-most reference, each layer alone at each of its other 6 levels, then the DP's answer.
    expect(result.provenance.evaluations).toBe(1 + result.units.length * 6 + 1);
    expect(cli(['baseline', 'uniform', experiment, '--db', db, '--run-id', 'uniform']).code).toBe(0);
    const owl = cli(['baseline', 'owl', experiment, '--db', db, '--run-id', 'owl', '--owl-m', '3,5', '--owl-lambda', '0.05,0.1', '--json']);
    expect(owl.code, owl.stderr).toBe(0);
    const owlResult = (JSON.parse(owl.stdout) as { result: { strategy: string; cost: number; budget: { total: number }; provenance: { evaluations: number } } }).result;
    expect(owlResult.strategy).toBe('owl');
    expect(owlResult.cost).toBeLessThanOrEqual(owlResult.budget.total);
    expect(owlResult.provenance.evaluations).toBeGreaterThanOrEqual(1);
    expect(owlResult.provenance.evaluations).toBeLessThanOrEqual(4); // one per distinct grid point
    const runs = JSON.parse(cli(['list', '--db', db, '--json']).stdout) as { id: string; name: string; strategy: string }[];
    expect(runs.map((r) => [r.id, r.name, r.strategy])).toEqual([['dp', 'lm-small-dp', 'dp'], ['uniform', 'lm-small-uniform', 'uniform'], ['owl', 'lm-small-owl', 'owl']]);
    const heldOut = JSON.parse(cli(['heldout', 'dp', '--db', db, '--json']).stdout) as { configuration: string; kl: number }[];
    expect(heldOut.map((row) => row.configuration)).toEqual(['dense', 'uniform', 'search']);
    expect(cli(['export', 'dp', '--db', db, '--out', join(dir, 'dp.csv')]).code).toBe(0);
    oneLineError(cli(['baseline', 'owlish', experiment, '--db', db]), /<method>: expected uniform, owl, block-influence, dp, got "owlish"/);
  });

  it('drops the sub-blocks of least block influence (ShortGPT) on a drop database, and refuses owl there [slow]', { timeout: 240_000 }, () => {
    const { experiment, db } = setup({ compression: { type: 'drop', target: 0.25 } });
    const r = cli(['baseline', 'block-influence', experiment, '--db', db, '--run-id', 'bi', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const { result } = JSON.parse(r.stdout) as { result: { strategy: string; cost: number; budget: { total: number }; units: { name: string; value: number }[]; provenance: { evaluations: number } } };
    expect(result.strategy).toBe('block-influence');
    expect(result.provenance.evaluations).toBe(1);
    expect(result.cost).toBeLessThanOrEqual(result.budget.total);
    expect(result.units.filter((u) => u.value === 1)).toHaveLength(Math.round(0.25 * result.units.length));
    oneLineError(cli(['baseline', 'owl', experiment, '--db', db, '--json']), /experiment\.json: space: owl allocates sparsity; this level database holds drop levels/);
    const sparsity = setup();
    oneLineError(cli(['baseline', 'block-influence', sparsity.experiment, '--db', sparsity.db, '--json']), /experiment\.json: space: block-influence ranks sub-blocks to drop; this level database holds sparsity levels/);
  });

  it('refuses an unknown backend, on the command line and in the experiment', () => {
    const { experiment, db } = setup();
    oneLineError(cli(['run', experiment, '--db', db, '--backend', 'torch']), /--backend: expected onnx or tfjs, got "torch"/);
    const bad = setup({ fitness: { backend: 'torch' } });
    oneLineError(cli(['run', bad.experiment, '--db', bad.db]), /experiment\.json: fitness\.backend: .*onnx.*tfjs/);
  });

  it('refuses a database built for another model, at launch and when a run\'s model changed since [slow]', { timeout: 240_000 }, () => {
    const original = setup();
    expect(cli(['db', 'build', original.dbConfig]).code).toBe(0);
    // The experiment evaluates `other`, a copy of the reference model, with the reference model's database.
    const other = modelCopy();
    const exp = JSON.parse(readFileSync(original.experiment, 'utf8'));
    exp.fitness.model = other;
    writeFileSync(original.experiment, JSON.stringify(exp));
    expect(cli(['run', original.experiment, '--db', original.db, '--run-id', 'same', '--json']).code).toBe(0);
    const file = join(other, 'model.safetensors');
    const tensors = floatTensors(file);
    tensors['ln_f.bias'].data[0] += 0.01;
    writeSafetensors(file, tensors);
    const mismatch = /manifest\.json: model\.sha256: the database was built for a model with hash .* but .*model has /;
    oneLineError(cli(['run', original.experiment, '--db', original.db]), mismatch);
    oneLineError(cli(['resume', 'same', '--db', original.db]), mismatch);
    oneLineError(cli(['heldout', 'same', '--db', original.db]), mismatch);
  });

  it('refuses a safetensors file with a wrong dtype or shape, and a config.json that does not match the weights', () => {
    const wrongShape = modelCopy();
    const tensors = floatTensors(join(wrongShape, 'model.safetensors'));
    tensors['h.0.mlp.c_fc.weight'].shape = [640, 160];
    writeSafetensors(join(wrongShape, 'model.safetensors'), tensors);
    oneLineError(cli(['db', 'build', setup({ model: wrongShape }).dbConfig]), /model\.safetensors: tensor "h\.0\.mlp\.c_fc\.weight" has shape \[640, 160\], expected \[160, 640\]/);

    const mismatched = modelCopy();
    const config = JSON.parse(readFileSync(join(mismatched, 'config.json'), 'utf8'));
    writeFileSync(join(mismatched, 'config.json'), JSON.stringify({ ...config, n_inner: 512 }));
    oneLineError(cli(['db', 'build', setup({ model: mismatched }).dbConfig]), /model\.safetensors: tensor "h\.0\.mlp\.c_fc\.weight" has shape \[160, 640\], expected \[160, 512\]/);

    const int32 = modelCopy();
    const bytes = readFileSync(join(int32, 'model.safetensors'));
    const length = Number(bytes.readBigUInt64LE(0));
    const text = bytes.subarray(8, 8 + length).toString('utf8').replace('"F32"', '"I32"');
    writeFileSync(join(int32, 'model.safetensors'), Buffer.concat([bytes.subarray(0, 8 + length - text.length), Buffer.from(text), bytes.subarray(8 + length)]));
    oneLineError(cli(['db', 'build', setup({ model: int32 }).dbConfig]), /model\.safetensors: tensor "wte\.weight" has dtype I32, expected F32, F16 or BF16/);
  });
});
