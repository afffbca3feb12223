import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, tempDir } from './cli-helpers.js';

const SCRIPT = join(ROOT, 'dist', 'tools', 'train', 'reference-lm.js');
// A tiny model, a checkpoint after every step: the point is the resume, not the model. Many more
// steps than the kill waits for, so that a busy machine cannot let the run finish before the kill lands.
const TINY = ['--steps', '200', '--width', '32', '--layers', '1', '--heads', '2', '--batch', '4', '--warmup', '5', '--log-every', '10', '--eval-every', '1000', '--checkpoint-minutes', '0'];

/** Runs the script and SIGKILLs it once it has reported the checkpoint of step `at`. */
function killedAfterCheckpoint(args: string[], at: number): Promise<number> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const steps = [...out.matchAll(/checkpoint at step (\d+)/g)].map((m) => Number(m[1]));
      if (steps.some((s) => s >= at) && child.exitCode === null) child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? done(Math.max(...[...out.matchAll(/checkpoint at step (\d+)/g)].map((m) => Number(m[1])))) : fail(new Error(`exited ${code} before the kill:\n${out}`))));
  });
}

describe('npm run train:reference [slow]', () => {
  it('resumes after kill -9 from its checkpoint to the same weights as a run never interrupted', async () => {
    const dir = tempDir();
    const whole = spawnSync(process.execPath, [SCRIPT, ...TINY, '--out', join(dir, 'whole'), '--checkpoint', join(dir, 'ck-whole')], { encoding: 'utf8' });
    expect(whole.status, whole.stderr).toBe(0);

    const args = [...TINY, '--out', join(dir, 'resumed'), '--checkpoint', join(dir, 'ck-resumed')];
    const killedAt = await killedAfterCheckpoint(args, 12);
    expect(killedAt).toBeLessThan(200);
    const resumed = spawnSync(process.execPath, [SCRIPT, ...args, '--resume'], { encoding: 'utf8' });
    expect(resumed.status, resumed.stderr).toBe(0);
    const resumedAt = Number(/resumed from .* at step (\d+)/.exec(resumed.stdout)?.[1]);
    // The kill can land a checkpoint or two after the one it saw: the resume starts from the last one written.
    expect(resumedAt).toBeGreaterThanOrEqual(killedAt);
    expect(resumedAt).toBeLessThan(200);

    const weights = (run: string) => readFileSync(join(dir, run, 'model.safetensors'));
    expect(weights('resumed').equals(weights('whole'))).toBe(true);
    const curve = (run: string) => JSON.parse(readFileSync(join(dir, run, 'training.json'), 'utf8')).curve.map((p: { step: number; trainLoss: number }) => [p.step, p.trainLoss]);
    expect(curve('resumed')).toEqual(curve('whole'));
  });

  it('--resume without a checkpoint stops instead of starting afresh', () => {
    const dir = tempDir();
    const r = spawnSync(process.execPath, [SCRIPT, ...TINY, '--out', join(dir, 'out'), '--checkpoint', join(dir, 'none'), '--resume'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/no checkpoint/);
  });
});
