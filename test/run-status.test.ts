import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { FIXTURES, afterNextStep, cli, cliKilledAt, tempDir } from './cli-helpers.js';

const experiment = join(FIXTURES, 'slow-experiment.json');

describe('status of a run whose coordinator was killed', () => {
  it('is "interrupted", with the command that resumes it, in status and list [slow]', { timeout: 300_000 }, async () => {
    const db = join(tempDir(), 'killed.db');
    const killed = await cliKilledAt(['run', experiment, '--db', db, '--run-id', 'k', '--json'], afterNextStep(db, 'k', 0, 0));
    expect(killed.killed).toBe(true);

    const status = JSON.parse(cli(['status', 'k', '--db', db, '--json']).stdout);
    expect(status.status).toBe('interrupted');
    expect(status.resume).toBe(`npx evosearch resume k --db ${db}`);
    expect(cli(['status', 'k', '--db', db]).stdout).toContain(`resume: npx evosearch resume k --db ${db}`);

    const listed = cli(['list', '--db', db]).stdout.trim().split('\n');
    expect(listed[1].split('\t').slice(0, 2)).toEqual(['k', 'interrupted']);
    expect(listed[listed.length - 1]).toBe(`continue a stopped run with: npx evosearch resume k --db ${db}`);
    expect(JSON.parse(cli(['list', '--db', db, '--json']).stdout)[0].status).toBe('interrupted');

    // What it says works: the resumed run finishes, and then nothing is left to resume.
    expect(cli(['resume', 'k', '--db', db, '--json']).code).toBe(0);
    const done = JSON.parse(cli(['status', 'k', '--db', db, '--json']).stdout);
    expect([done.status, done.resume]).toEqual(['finished', null]);
    expect(cli(['list', '--db', db]).stdout).not.toContain('continue a stopped run');
  });
});
