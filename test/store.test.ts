import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Store } from '../src/store/store.js';
import { createRun } from '../src/engine/engine.js';
import { loadExperiment } from '../src/cli/db.js';
import { loadExperimentOfRun } from '../src/export/result.js';
import type { Experiment } from '../src/engine/experiment.js';
import { ROOT, tempDir } from './cli-helpers.js';

const toy = await loadExperiment(join(ROOT, 'experiments', 'toy', 'experiment.json'));
const experiment = () => toy;

describe('store', () => {
  it('creates a run with its step-0 checkpoint, and refuses a duplicate id', () => {
    const store = Store.open(join(tempDir(), 'a.db'));
    createRun(store, 'r1', experiment());
    expect(store.getCheckpoint('r1')).toMatchObject({ step: 0, evaluations: 0, bestGenome: null });
    expect(() => createRun(store, 'r1', experiment())).toThrow(/run "r1" already exists/);
    store.close();
  });

  it('reads runs stored before the image fitnesses named their samples (windows → pictures, patches and patchSize), and before fitness.timeout', () => {
    const store = Store.open(join(tempDir(), 'old.db'));
    const stored = (fitness: object): Experiment => ({ ...experiment(), fitness: { minimize: false, slices: 4, levelCacheMiB: 64, backend: 'tfjs', model: '/m', database: '/d', ...fitness } as unknown as Experiment['fitness'] });
    createRun(store, 'accuracy', stored({ type: 'accuracy', windows: 500 }));
    createRun(store, 'psnr', stored({ type: 'psnr', windows: 2, length: 32, cacheMiB: 16 }));
    expect(loadExperimentOfRun(store, 'accuracy').fitness).toEqual({ type: 'accuracy', pictures: 500, minimize: false, slices: 4, levelCacheMiB: 64, backend: 'tfjs', model: '/m', database: '/d', timeout: 3600, validationSlices: 0 });
    expect(loadExperimentOfRun(store, 'psnr').fitness).toEqual({ type: 'psnr', patches: 2, patchSize: 32, cacheMiB: 16, minimize: false, slices: 4, levelCacheMiB: 64, backend: 'tfjs', model: '/m', database: '/d', timeout: 3600, validationSlices: 0 });
    store.close();
  });

  it('refuses a second coordinator while the first holds the lock, and takes over a dead one', () => {
    const file = join(tempDir(), 'lock.db');
    const first = Store.open(file);
    createRun(first, 'r', experiment());
    first.acquireLock('r');
    const second = Store.open(file);
    expect(() => second.acquireLock('r')).toThrow(/already being run by process/);

    // A lock left by a process that no longer exists (as after kill -9) is taken over.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    first.db.prepare('UPDATE runs SET lock_pid = ? WHERE id = ?').run(Number(dead.stdout), 'r');
    expect(() => second.acquireLock('r')).not.toThrow();
    first.close();
    second.close();
  });

  it('upgrades a schema-1 database (before sweeps) in place, keeping its runs', () => {
    const file = join(tempDir(), 'v1.db');
    const before = Store.open(file);
    createRun(before, 'old', toy);
    before.close();
    const raw = new Database(file);
    raw.exec("DROP TABLE sweeps; UPDATE meta SET value = '1' WHERE key = 'schema_version'");
    raw.close();
    const store = Store.open(file, { mustExist: true });
    try {
      expect(store.getRun('old')?.name).toBe(toy.name);
      store.createSweep({ id: 'sw', name: 'sweep', experiment: '{}' });
      expect(store.getSweep('sw')?.name).toBe('sweep');
    } finally {
      store.close();
    }
    const check = new Database(file, { readonly: true });
    expect((check.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string }).value).toBe('2');
    check.close();
  });

  it('refuses an SQLite database of another application and leaves it as it was', () => {
    const file = join(tempDir(), 'other.db');
    const other = new Database(file);
    other.exec('CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers (name) VALUES (\'ada\')');
    other.close();
    expect(() => Store.open(file)).toThrow(/an SQLite database, but not an evosearch one/);
    const check = new Database(file, { readonly: true });
    expect(check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()).toEqual([{ name: 'customers' }]);
    check.close();
  });

  it('caches evaluations by (run, genome hash, budget, slice) and keeps the first value', () => {
    const store = Store.open(join(tempDir(), 'c.db'));
    createRun(store, 'r', experiment());
    store.insertEvaluations('r', 1, 1, 0, [{ hash: 'h', genome: [1, 2], fitness: 0.5 }]);
    store.insertEvaluations('r', 2, 1, 0, [{ hash: 'h', genome: [1, 2], fitness: 0.9 }]);
    expect(store.cachedEvaluation('r', 'h', 1, 0)).toEqual({ fitness: 0.5, step: 1 });
    expect(store.cachedEvaluation('r', 'h', 4, 0)).toBeUndefined();
    expect(store.cachedEvaluation('r', 'h', 1, 1)).toBeUndefined();
    store.close();
  });
});
