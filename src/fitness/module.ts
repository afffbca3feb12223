import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ExitCalled, fitnessCommon, type Fitness, type FitnessContext } from './types.js';

export const moduleFitnessSchema = z.strictObject({
  type: z.literal('module'),
  /** The module file, relative to the experiment (absolute once loaded). */
  path: z.string().min(1),
  ...fitnessCommon,
});

export type ModuleFitnessSpec = z.infer<typeof moduleFitnessSchema>;

type UserEvaluate = (genome: number[], ctx: { budget: number; slice: number; seed: number; space: unknown }) => unknown;

/**
 * A user's JS module whose default export, or named export `evaluate`, scores a genome. A named
 * export `close` (optional) runs once in each worker when the run's workers stop, to release what
 * the module holds (a session, a connection, a child process).
 */
export async function loadModuleFitness(path: string, ctx: FitnessContext): Promise<Fitness> {
  let mod: Record<string, unknown>;
  try {
    mod = await import(pathToFileURL(path).href);
  } catch (err) {
    throw new Error(`fitness module ${path} failed to load: ${(err as Error).message.split('\n')[0]}`);
  }
  const fn = [mod.default, mod.evaluate].find((f): f is UserEvaluate => typeof f === 'function');
  if (!fn) throw new Error(`fitness module ${path}: expected a default export or a named export "evaluate" that is a function`);
  const close = typeof mod.close === 'function' ? (mod.close as () => unknown) : undefined;
  return {
    close: close && (async () => void (await close())),
    async evaluate(genome, fidelity) {
      try {
        return (await fn(genome.slice(), { budget: fidelity.budget, slice: fidelity.slice, seed: ctx.seed, space: ctx.space })) as number;
      } catch (err) {
        if (err instanceof ExitCalled) throw err;
        throw new Error(`threw: ${(err as Error)?.message ?? String(err)}`);
      }
    },
  };
}
