import { describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensors } from '../src/models/safetensors.js';
import { loadTransformer } from '../src/models/transformer.js';
import { readLayersModel } from '../src/models/layers-model.js';
import { cli, ROOT, tempDir } from './cli-helpers.js';
import { floatTensors, modelCopy } from './helpers.js';

/** A magnitude database config for a model directory: no calibration statistics, so it builds in seconds. */
function dbConfig(model: string): string {
  const file = join(tempDir(), 'db.json');
  writeFileSync(file, JSON.stringify({ model, out: 'db', compression: { type: 'sparsity', method: 'magnitude', target: 0.5, stepsEachSide: 2 } }));
  return file;
}

function oneLineError(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  expect(r.code).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines[lines.length - 1]).toMatch(pattern);
  expect(lines.filter((l) => l.startsWith('evosearch: error: '))).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('models that lie', () => {
  it('refuses a config.json with fewer layers than the weights file holds, naming the tensors it would drop', () => {
    const dir = modelCopy();
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, n_layer: 3 }));
    const expected = /model\.safetensors: 12 tensors that .*config\.json does not use \(n_layer 3\): h\.3\.ln_1\.weight, h\.3\.ln_1\.bias, h\.3\.attn\.c_attn\.weight, h\.3\.attn\.c_attn\.bias and 8 more$/;
    expect(() => loadTransformer(dir)).toThrow(expected);
    oneLineError(cli(['db', 'build', dbConfig(dir)]), expected);
  });

  it('refuses non-finite weights and weights beyond ±1e6, naming the tensor', () => {
    for (const [value, shown] of [[Number.NaN, 'NaN'], [Number.POSITIVE_INFINITY, 'Infinity'], [-2e6, '-2000000']] as const) {
      const dir = modelCopy();
      const tensors = floatTensors(join(dir, 'model.safetensors'));
      tensors['h.1.mlp.c_proj.weight'].data[17] = value;
      writeSafetensors(join(dir, 'model.safetensors'), tensors);
      oneLineError(cli(['db', 'build', dbConfig(dir)]), new RegExp(`model\\.safetensors: tensor "h\\.1\\.mlp\\.c_proj\\.weight" holds ${shown} at index 17; weights must be finite and within ±1e\\+6$`));
    }
  });

  it('refuses a LayersModel whose weights are not finite', () => {
    const source = join(ROOT, 'models', 'fashion-cnn');
    const dir = join(tempDir(), 'cnn');
    mkdirSync(dir);
    for (const f of readdirSync(source)) copyFileSync(join(source, f), join(dir, f));
    const model = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    const shard = join(dir, model.weightsManifest[0].paths[0]);
    const bytes = readFileSync(shard);
    bytes.writeFloatLE(Number.NaN, 4 * 5); // the sixth value of the first weight
    writeFileSync(shard, bytes);
    const first = model.weightsManifest[0].weights[0].name;
    expect(() => readLayersModel(dir)).toThrow(new RegExp(`model\\.json: tensor "${first}" holds NaN at index 5`));
  });

  it('stores the dense model\'s calibration perplexity in the manifest, and db build prints it [slow]', { timeout: 300_000 }, () => {
    const reference = cli(['db', 'build', dbConfig(join(ROOT, 'models', 'reference-lm')), '--json']);
    expect(reference.code, reference.stderr).toBe(0);
    const dense = JSON.parse(reference.stdout).dense;
    expect(dense).toMatchObject({ metric: 'perplexity', samples: 32, length: 128 });
    // Held-out perplexity is 4.36 per character (a bigram table: 10.6); the calibration addresses are of the same kind.
    expect(dense.value).toBeGreaterThan(2.5);
    expect(dense.value).toBeLessThan(6);
    const manifest = JSON.parse(readFileSync(join(JSON.parse(reference.stdout).dir, 'manifest.json'), 'utf8'));
    expect(manifest.dense).toEqual(dense);

    // A model that has lost its embedding predicts every character alike: perplexity = vocabulary size.
    const broken = modelCopy();
    const tensors = floatTensors(join(broken, 'model.safetensors'));
    tensors['wte.weight'].data.fill(0);
    writeSafetensors(join(broken, 'model.safetensors'), tensors);
    const r = cli(['db', 'build', dbConfig(broken)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/dense perplexity 85\.000 on 32 calibration windows of 128 tokens/);
  });
});
