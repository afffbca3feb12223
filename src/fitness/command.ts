import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { fitnessCommon, type Fitness, type FitnessContext } from './types.js';

export const commandFitnessSchema = z.strictObject({
  type: z.literal('command'),
  command: z.array(z.string().min(1)).min(1, 'expected [program, ...args]'),
  ...fitnessCommon,
});

/** `cwd`: the experiment's directory, where the command starts. */
export type CommandFitnessSpec = z.infer<typeof commandFitnessSchema> & { cwd: string };

/**
 * An external program, started once per worker with argv and no shell. Protocol: one JSON request
 * per line on its stdin ({"genome", "units", "budget", "slice"}), one JSON line {"fitness": x} back
 * on stdout, in order. Its stderr is kept (the tail) to explain a crash.
 */
export function startCommandFitness(command: string[], cwd: string, ctx: FitnessContext): Fitness {
  const child: ChildProcessWithoutNullStreams = spawn(command[0], command.slice(1), { cwd, stdio: 'pipe' });
  const pid = child.pid;
  if (pid !== undefined) ctx.onProcess?.(pid, true);
  const units = ctx.space.units.map((u) => u.name);
  const waiting: { resolve: (v: number) => void; reject: (e: Error) => void }[] = [];
  let stderr = '';
  let dead: Error | null = null;

  const fail = (err: Error) => {
    dead ??= err;
    for (const w of waiting.splice(0)) w.reject(dead);
  };
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  child.on('error', (err) => fail(new Error(`could not start: ${err.message}`)));
  child.on('exit', (code, signal) => {
    if (pid !== undefined) ctx.onProcess?.(pid, false);
    const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    const tail = stderr.trim().split('\n').pop();
    fail(new Error(`${why}${tail ? ` (stderr: ${tail})` : ''}`));
  });
  child.stdin.on('error', () => undefined); // a dead child surfaces through 'exit'
  createInterface({ input: child.stdout }).on('line', (line) => {
    const w = waiting.shift();
    if (!w) return;
    let value: unknown;
    try {
      value = (JSON.parse(line) as { fitness?: unknown }).fitness;
    } catch {
      value = undefined;
    }
    if (typeof value !== 'number') {
      w.reject(new Error(`answered ${JSON.stringify(line.slice(0, 80))}, expected a line {"fitness": <number>}`));
    } else {
      w.resolve(value);
    }
  });

  return {
    evaluate(genome, fidelity) {
      if (dead) return Promise.reject(dead);
      return new Promise<number>((resolve, reject) => {
        waiting.push({ resolve, reject });
        child.stdin.write(JSON.stringify({ genome, units, budget: fidelity.budget, slice: fidelity.slice }) + '\n');
      });
    },
    close() {
      child.stdin.end();
      if (child.exitCode === null) child.kill();
    },
  };
}
