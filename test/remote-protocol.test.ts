import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { decodeFailure, encodeFailure, isJobFailure, jobId, relocate, setupDigest, type RemoteSetup } from '../src/pool/remote-protocol.js';
import { parseCommand, refusal } from '../src/pool/remote-worker.js';
import { syntheticSpace } from '../src/space/synthetic.js';
import type { FitnessSpec } from '../src/fitness/types.js';
import { FIXTURES, cli, expectOneLineError, tempDir } from './cli-helpers.js';
import { writeFileSync } from 'node:fs';

const space = syntheticSpace({ family: 'equalStep', units: 4, levels: 3, seed: 1, budgetFraction: 0.5 });
const module = (path: string) => ({ type: 'module', path, minimize: true, slices: 1, validationSlices: 4, timeout: 600 }) as FitnessSpec;
const command = (argv: string[]) => ({ type: 'command', command: argv, cwd: '/x', minimize: true, slices: 1, validationSlices: 4, timeout: 600 }) as FitnessSpec;

function setup(fitness: FitnessSpec, run = 'r'): RemoteSetup {
  return { fitness, space, seed: 1, run, files: [{ what: 'fitness module', path: '/home/a/project/f.mjs', sha256: 'abc' }], root: '/home/a/project', lockMs: 30_000 };
}

describe('remote jobs', () => {
  it('names a job by its content: run setup, fidelity and genomes', () => {
    const d = setupDigest(setup(module('/home/a/project/f.mjs')));
    expect(setupDigest(setup(module('/home/a/project/f.mjs')))).toBe(d);
    expect(setupDigest(setup(module('/home/a/project/f.mjs'), 'other run'))).not.toBe(d);
    const id = jobId(d, { budget: 1, slice: 0 }, ['h1', 'h2']);
    expect(jobId(d, { budget: 1, slice: 0 }, ['h1', 'h2'])).toBe(id);
    for (const other of [jobId(d, { budget: 2, slice: 0 }, ['h1', 'h2']), jobId(d, { budget: 1, slice: 1 }, ['h1', 'h2']), jobId(d, { budget: 1, slice: 0 }, ['h2', 'h1'])]) expect(other).not.toBe(id);
    expect(id).not.toMatch(/:/); // BullMQ refuses custom ids with a colon
  });

  it('moves the paths under the coordinator\'s root to --data-root, and no others', () => {
    const s = setup({ ...module('/home/a/project/f.mjs') });
    s.space = { ...space, architecture: { teacher: { path: '/home/a/project-old/m', sha256: 'x', parameters: 1 } } as never };
    const moved = relocate(s, '/srv/data/');
    expect((moved.fitness as { path: string }).path).toBe('/srv/data/f.mjs');
    expect(moved.files[0].path).toBe('/srv/data/f.mjs');
    expect((moved.space.architecture as unknown as { teacher: { path: string } }).teacher.path).toBe('/home/a/project-old/m'); // a sibling, not under the root
    expect(relocate(s, undefined)).toBe(s);
  });

  it('runs only built-in fitnesses and the modules and commands a worker allows', () => {
    expect(refusal({ type: 'synthetic' } as FitnessSpec, [], [])).toBeNull();
    expect(refusal({ type: 'kl' } as FitnessSpec, [], [])).toBeNull();
    expect(refusal(module('/p/f.mjs'), [], [])).toMatch(/fitness module \/p\/f\.mjs is not allowed on this worker \(start it with --allow-module \/p\/f\.mjs\)/);
    expect(refusal(module('/p/f.mjs'), ['/p/g.mjs'], [])).not.toBeNull();
    expect(refusal(module('/p/f.mjs'), ['/p/../p/f.mjs'], [])).toBeNull();
    expect(refusal(command(['node', 'f.mjs']), [], [['node', 'f.mjs', '--x']])).toMatch(/fitness command \["node","f\.mjs"\] is not allowed/);
    expect(refusal(command(['node', 'f.mjs']), [], [['node', 'f.mjs']])).toBeNull();
    expect(refusal({ type: 'shell' } as unknown as FitnessSpec, ['/p/f.mjs'], [['sh']])).toMatch(/fitness type "shell" is not one evosearch has/);
  });

  it('reads --allow-command as words or as a JSON array', () => {
    expect(parseCommand('node  fit.mjs --flag')).toEqual(['node', 'fit.mjs', '--flag']);
    expect(parseCommand('["python3", "my script.py"]')).toEqual(['python3', 'my script.py']);
    expect(() => parseCommand('[1]')).toThrow(/JSON array of strings/);
    expect(() => parseCommand('[1')).toThrow(/JSON array of strings/);
    expect(() => parseCommand('  ')).toThrow(/expected a command/);
  });

  it('tells a job\'s own failure from a lost connection', () => {
    const f = encodeFailure({ index: 3, message: 'returned NaN' });
    expect(decodeFailure(f)).toEqual({ index: 3, message: 'returned NaN' });
    expect(isJobFailure(f)).toBe(true);
    expect(isJobFailure(encodeFailure({ index: -1, message: 'refused' }))).toBe(true);
    expect(isJobFailure('job stalled more than allowable limit')).toBe(true);
    expect(isJobFailure('Connection is closed.')).toBe(false);
    expect(decodeFailure('Connection is closed.')).toEqual({ index: -1, message: 'Connection is closed.' });
  });

  it('refuses bad remote flags and settings in one line', () => {
    const experiment = join(FIXTURES, 'slow-experiment.json');
    expectOneLineError(cli(['run', experiment, '--redis', 'http://host']), /--redis .*expected a redis:\/\/ or rediss:\/\/ URL, got "http:\/\/host"/);
    expectOneLineError(cli(['run', experiment, '--redis', 'redis://host', '--workers', '2']), /'--redis <url>' cannot be used with option '--workers <n>'/);
    expectOneLineError(cli(['worker']), /required option '--redis <url>' not specified/);
    expectOneLineError(cli(['worker', '--redis', 'redis://127.0.0.1:1', '--device', 'gpu']), /--device .*expected cpu or cuda:N/);
    expectOneLineError(cli(['worker', '--redis', 'redis://127.0.0.1:1', '--allow-command', '[1]']), /--allow-command: expected a JSON array of strings, got \[1\]/);
    const bad = join(tempDir(), 'bad.json');
    writeFileSync(bad, JSON.stringify({ name: 'x', space: { synthetic: { family: 'equalStep', units: 4, levels: 3 } }, strategy: { type: 'random', samples: 4 }, fitness: { type: 'synthetic' }, remote: { lockSeconds: 0 } }));
    expectOneLineError(cli(['run', bad, '--db', join(tempDir(), 'x.db')]), /bad\.json: remote\.lockSeconds: .*>=1/);
  });
});
