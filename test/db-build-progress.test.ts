import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, cli, tempDir } from './cli-helpers.js';

/**
 * `db build` without a terminal (a log file, CI) still says what it is doing: a line per unit and
 * calibration progress, so that a build of a minute or more is not silent. A small Wanda database
 * of the reference model (20 calibration windows) builds in a few seconds.
 */
function config(windows: number): string {
  const dir = tempDir();
  const file = join(dir, 'db.json');
  const compression = { type: 'sparsity', method: 'wanda', target: 0.5, stepsEachSide: 2 };
  writeFileSync(file, JSON.stringify({ model: join(ROOT, 'models', 'reference-lm'), out: 'db', compression, calibration: { windows } }));
  return file;
}

describe('db build progress on a non-TTY', () => {
  it('prints a line per unit and calibration progress every 10%', { timeout: 120_000 }, () => {
    const r = cli(['db', 'build', config(20)]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trim().split('\n');
    const units = lines.filter((l) => l.startsWith('db: units '));
    expect(units).toHaveLength(16);
    units.forEach((line, i) => expect(line).toMatch(new RegExp(`^db: units ${i + 1}/16 h\\.\\d\\.(attn|mlp)\\.\\w+$`)));
    expect(units[0]).toBe('db: units 1/16 h.0.attn.c_attn');
    const calibration = lines.filter((l) => l.startsWith('db: calibration '));
    expect(calibration).toEqual(Array.from({ length: 10 }, (_, i) => `db: calibration ${2 * (i + 1)}/20`));
  });

  it('prints every calibration sample when there are few, and nothing with --json', { timeout: 120_000 }, () => {
    const file = config(3);
    const r = cli(['db', 'build', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('db: calibration '))).toEqual(['db: calibration 1/3', 'db: calibration 2/3', 'db: calibration 3/3']);
    const quiet = cli(['db', 'build', config(3), '--json']);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).toBe('');
  });
});
