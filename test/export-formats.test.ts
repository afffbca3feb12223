import { describe, expect, it, beforeAll } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, cli, tempDir } from './cli-helpers.js';
import { writeFileAtomically } from '../src/files.js';

const toy = join(ROOT, 'experiments', 'toy', 'experiment.json');

describe('export file formats', () => {
  let dir: string;
  let db: string;
  beforeAll(() => {
    dir = tempDir();
    db = join(dir, 'runs.db');
    const r = cli(['run', toy, '--db', db, '--run-id', 't', '--json']);
    expect(r.code, r.stderr).toBe(0);
  });

  it('infers the format from the --out extension, as run --out does [slow]', { timeout: 300_000 }, () => {
    const csvLines = (file: string) => readFileSync(file, 'utf8').trim().split('\n');
    for (const [name, check] of [
      ['best.csv', (f: string) => expect(csvLines(f)[0]).toBe('name,level,value,cost')],
      ['best.txt', (f: string) => expect(csvLines(f)[0]).toMatch(/^l0: \d+$/)],
      ['best.json', (f: string) => expect(JSON.parse(readFileSync(f, 'utf8')).runId).toBe('t')],
    ] as const) {
      const out = join(dir, name);
      expect(cli(['export', 't', '--db', db, '--out', out]).code).toBe(0);
      check(out);
      // run --out gives the same file for the same run.
      const viaRun = join(dir, `run-${name}`);
      expect(cli(['run', toy, '--db', join(dir, `${name}.db`), '--run-id', 't', '--out', viaRun, '--json']).code).toBe(0);
      expect(readFileSync(viaRun, 'utf8').replace(/"createdAt": "[^"]*"/, '')).toBe(readFileSync(out, 'utf8').replace(/"createdAt": "[^"]*"/, ''));
    }
    // An extension that names no format: JSON, unless --format says otherwise.
    expect(cli(['export', 't', '--db', db, '--out', join(dir, 'best.out')]).code).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'best.out'), 'utf8')).runId).toBe('t');
    expect(cli(['export', 't', '--db', db, '--out', join(dir, 'best2.out'), '--format', 'csv']).code).toBe(0);
    expect(readFileSync(join(dir, 'best2.out'), 'utf8')).toMatch(/^name,level,value,cost\n/);
  });

  it('refuses a --format that the --out extension contradicts, in one line, writing nothing', () => {
    const out = join(dir, 'wrong.csv');
    const r = cli(['export', 't', '--db', db, '--format', 'json', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`evosearch: error: --format json: ${out} names a csv file; write json to a .json file, or leave out --format\n`);
    expect(existsSync(out)).toBe(false);
  });

  it('writes files under a temporary name: a write that fails midway leaves the old file and no leftovers', () => {
    const folder = tempDir();
    const file = join(folder, 'model.json');
    writeFileSync(file, 'old');
    expect(() =>
      writeFileAtomically(file, (temporary) => {
        writeFileSync(temporary, 'half of the ne');
        throw new Error('killed');
      }),
    ).toThrow('killed');
    expect(readFileSync(file, 'utf8')).toBe('old');
    expect(readdirSync(folder)).toEqual(['model.json']);
    writeFileAtomically(file, (temporary) => writeFileSync(temporary, 'new'));
    expect(readFileSync(file, 'utf8')).toBe('new');
    expect(readdirSync(folder)).toEqual(['model.json']);
  });
});
