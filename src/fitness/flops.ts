import { z } from 'zod';
import type { Genome, Space } from '../space/space.js';
import { architectureFlops } from '../space/architecture.js';
import { UserError } from '../errors.js';
import { fitnessCommon } from './types.js';

/**
 * Compressor's objective: a student's analytic forward FLOPs (per token, or per picture),
 * maximised under the size budget, on the bet that more compute within a size bound means a
 * stronger model. Nothing is trained; the value is exact, so nothing is validated by default.
 */
export const flopsFitnessSchema = z.strictObject({
  type: z.literal('flops'),
  ...fitnessCommon,
  minimize: z.literal(false).default(false),
  validationSlices: z.number().int().min(0).default(0),
});

export type FlopsFitnessSpec = z.infer<typeof flopsFitnessSchema>;

export function flopsFitness(space: Space): { evaluate(genome: Genome): number } {
  const arch = space.architecture;
  if (!arch) throw new UserError('flops fitness: the space must be an architecture space ("space": {"architecture": {...}})');
  return { evaluate: (genome) => architectureFlops(arch, space.units, genome) };
}
