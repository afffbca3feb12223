import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ROOT, cli, tempDir } from './cli-helpers.js';
import { Store } from '../src/store/store.js';
import { createRun, prepare } from '../src/engine/engine.js';
import { loadExperiment } from '../src/cli/db.js';
import { loadExperimentOfRun } from '../src/export/result.js';
import { classifierLayout } from '../src/fitness/classifier.js';
import { samplesFor } from '../src/fitness/types.js';
import type { Experiment } from '../src/engine/experiment.js';
import { strategySchema } from '../src/strategies/index.js';

/** The reproduction: a search on a magnitude database, then the database rebuilt in place with another target. */
function setup() {
  const dir = tempDir();
  const dbConfig = join(dir, 'db.json');
  const writeConfig = (target: number) =>
    writeFileSync(dbConfig, JSON.stringify({ model: join(ROOT, 'models', 'reference-lm'), out: 'db', compression: { type: 'sparsity', method: 'magnitude', target, stepsEachSide: 3 } }));
  writeConfig(0.6);
  const experiment = join(dir, 'experiment.json');
  writeFileSync(
    experiment,
    JSON.stringify({
      name: 'stored',
      seed: 5,
      space: { database: 'db.json' },
      strategy: { type: 'evopress', generations: 6, offspring: 6 },
      fitness: { type: 'kl', windows: 1, slices: 2 },
      workers: 2,
    }),
  );
  return { dir, dbConfig, writeConfig, experiment, db: join(dir, 'runs.db'), database: join(dir, 'db') };
}

const filesOf = (dir: string) => Object.fromEntries(readdirSync(dir).map((f) => [f, createHash('sha256').update(readFileSync(join(dir, f))).digest('hex')]));

function oneLineError(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  expect(r.code).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines.filter((l) => l.startsWith('evosearch: error: '))).toHaveLength(1);
  expect(lines[lines.length - 1]).toMatch(pattern);
}

describe('a stored run never changes after the fact [slow]', () => {
  it('keeps exporting what it found after its database is rebuilt with another config, and refuses once that database is gone', { timeout: 600_000 }, () => {
    const { dir, writeConfig, dbConfig, experiment, db, database } = setup();
    expect(cli(['run', experiment, '--db', db, '--run-id', 'a', '--json']).code).toBe(0);
    const first = join(dir, 'first');
    expect(cli(['export', 'a', '--db', db, '--format', 'safetensors', '--out', first]).code).toBe(0);
    const heldOut = cli(['heldout', 'a', '--db', db, '--json']).stdout;

    // The config changes and the database is rebuilt in place: the old one is kept aside, not overwritten.
    writeConfig(0.5);
    const rebuilt = cli(['db', 'build', dbConfig]);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    const kept = /kept for the runs made with it: (\S+)/.exec(rebuilt.stderr)?.[1];
    expect(kept).toMatch(/db@[0-9a-f]{12}$/);
    expect(JSON.parse(readFileSync(join(database, 'manifest.json'), 'utf8')).compression.target).toBe(0.5);

    // The old run exports the same files, and the same held-out numbers.
    const second = join(dir, 'second');
    expect(cli(['export', 'a', '--db', db, '--format', 'safetensors', '--out', second]).code).toBe(0);
    expect(filesOf(second)).toEqual(filesOf(first));
    expect(cli(['heldout', 'a', '--db', db, '--json']).stdout).toBe(heldOut);
    // A new run uses the new database.
    expect(cli(['run', experiment, '--db', db, '--run-id', 'b', '--json']).code).toBe(0);

    // Without the kept copy, the old run refuses in one line naming the database and the run.
    rmSync(kept!, { recursive: true });
    const refusal = /db\/manifest\.json: run "a" was made with another level database \(identity [0-9a-f]{12}…\), which was rebuilt since and is not kept in .*db@[0-9a-f]{12}; the run can no longer be resumed or exported$/;
    oneLineError(cli(['export', 'a', '--db', db, '--format', 'safetensors', '--out', join(dir, 'third')]), refusal);
    expect(existsSync(join(dir, 'third'))).toBe(false);
    oneLineError(cli(['heldout', 'a', '--db', db]), refusal);
    oneLineError(cli(['resume', 'a', '--db', db]), refusal);
    // The configuration itself is stored with the run and still exports.
    expect(JSON.parse(cli(['export', 'a', '--db', db]).stdout).runId).toBe('a');
  });

  it('refuses a database whose layer file changed under the same manifest', { timeout: 300_000 }, () => {
    const { experiment, db, database } = setup();
    expect(cli(['run', experiment, '--db', db, '--run-id', 'a', '--json']).code).toBe(0);
    // Two layer files of the same shape swapped: each file is valid, the database is not the run's.
    const units: { name: string; file: string }[] = JSON.parse(readFileSync(join(database, 'manifest.json'), 'utf8')).units;
    const [x, y] = ['h.0.attn.c_attn', 'h.1.attn.c_attn'].map((name) => join(database, units.find((u) => u.name === name)!.file));
    renameSync(x, `${x}.swap`);
    renameSync(y, x);
    renameSync(`${x}.swap`, y);
    oneLineError(cli(['resume', 'a', '--db', db]), /db: a layer file of the level database of run "a" has changed since it was built/);
  });
});

describe('evopress runs stored before strategy.modelLed', () => {
  it('read as modelLed averaging (what they ran), not the default pairs that new runs store', async () => {
    const store = Store.open(join(tempDir(), 'old.db'));
    const toy = await loadExperiment(join(ROOT, 'experiments', 'toy', 'experiment.json'));
    const evopress = strategySchema.parse({ type: 'evopress', generations: 10 });
    expect(evopress.type === 'evopress' && evopress.modelLed).toBe('pairs');
    createRun(store, 'new', { ...toy, strategy: evopress });
    expect(loadExperimentOfRun(store, 'new').strategy).toMatchObject({ type: 'evopress', modelLed: 'pairs' });

    const { modelLed: _, ...old } = evopress as Extract<typeof evopress, { type: 'evopress' }>;
    createRun(store, 'old', { ...toy, strategy: old as Experiment['strategy'] });
    expect('modelLed' in JSON.parse(store.requireRun('old').experiment).strategy).toBe(false);
    expect(loadExperimentOfRun(store, 'old').strategy).toMatchObject({ type: 'evopress', modelLed: 'averaging' });
    store.close();
  });
});

describe('runs stored before fitness.validationSlices', () => {
  it('read as validationSlices 0 (they never validated), not the default 4 that new runs store', async () => {
    const store = Store.open(join(tempDir(), 'old.db'));
    const toy = await loadExperiment(join(ROOT, 'experiments', 'toy', 'experiment.json'));
    expect(toy.fitness.validationSlices).toBe(4);
    createRun(store, 'new', toy);
    expect(loadExperimentOfRun(store, 'new').fitness.validationSlices).toBe(4);
    expect(prepare(loadExperimentOfRun(store, 'new')).ctx.validationSlices).toBe(4);

    const { validationSlices: _, ...old } = toy.fitness;
    createRun(store, 'old', { ...toy, fitness: old as Experiment['fitness'] });
    const stored = JSON.parse(store.requireRun('old').experiment);
    expect('validationSlices' in stored.fitness).toBe(false);
    expect(loadExperimentOfRun(store, 'old').fitness.validationSlices).toBe(0);
    expect(prepare(loadExperimentOfRun(store, 'old')).ctx.validationSlices).toBe(0);

    // A fashion run as they were made (10 slices of 500 pictures, racing to budget 6) reads the whole
    // split: with the default it would collide with validation pictures; as stored it reads what it read.
    const fashion = { ...toy, fitness: { type: 'accuracy', pictures: 500, slices: 10, minimize: false, levelCacheMiB: 64, backend: 'tfjs', model: '/m', database: '/d', timeout: 3600 } as unknown as Experiment['fitness'] };
    createRun(store, 'fashion', fashion);
    const spec = loadExperimentOfRun(store, 'fashion').fitness as { pictures: number; slices: number; validationSlices: number };
    expect(spec.validationSlices).toBe(0);
    expect(samplesFor({ budget: 6, slice: 9 }, classifierLayout(spec))).toEqual(Array.from({ length: 3000 }, (_, i) => (4500 + i) % 5000));
    expect(() => samplesFor({ budget: 6, slice: 9 }, classifierLayout({ ...spec, validationSlices: 4 }))).toThrow(/reserved for validation/);
    store.close();
  });
});
