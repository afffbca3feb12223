import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, cli, tempDir } from './cli-helpers.js';

describe('db build into a place no folder can be made', () => {
  it('stops with one line naming the config\'s out, rather than retrying mkdir for ever (/proc)', () => {
    const file = join(tempDir(), 'db.json');
    const compression = { type: 'sparsity', method: 'magnitude', target: 0.5, stepsEachSide: 2 };
    writeFileSync(file, JSON.stringify({ model: join(ROOT, 'models', 'reference-lm'), out: '/proc/evosearch-test/db', compression }));
    const r = cli(['db', 'build', file]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([`evosearch: error: ${file}: out: cannot make /proc/evosearch-test/db (no such file or directory)`]);
  });
});
