import { z } from 'zod';
import { Rng } from '../rng/rng.js';
import { costRange, type Space } from './space.js';

/**
 * The largest space generated: every level of every unit is held in memory (and searched), so a
 * mistyped size is refused rather than an array of 10^13 levels attempted.
 */
const MAX_UNITS = 100_000;
const MAX_LEVELS = 1_000;
const MAX_UNIT_LEVELS = 1_000_000;

/** Generated search spaces with known structure, for tests and benchmarks. */
export const syntheticSpaceSchema = z
  .strictObject({
    /** equalStep: every level step costs the same (as EvoPress builds levels); unequalCost: step costs vary 1–40× between units. */
    family: z.enum(['equalStep', 'unequalCost']),
    units: z.number().int().min(1).max(MAX_UNITS),
    levels: z.number().int().min(2).max(MAX_LEVELS),
    seed: z.number().int().default(1),
    /** Where the budget sits between the cheapest (0) and the most expensive (1) configuration. */
    budgetFraction: z.number().min(0).max(1).default(0.5),
  })
  .refine((s) => s.units * s.levels <= MAX_UNIT_LEVELS, { message: `expected units × levels ≤ ${MAX_UNIT_LEVELS}`, path: ['levels'] });

export type SyntheticSpaceSpec = z.infer<typeof syntheticSpaceSchema>;

export function syntheticSpace(spec: SyntheticSpaceSpec): Space {
  const rng = Rng.fromSeed(`space:${spec.family}:${spec.seed}`);
  const units = Array.from({ length: spec.units }, (_, i) => {
    // Log-uniform step cost in 1..40 for unequal units; level 0 is dense (most expensive).
    const step = spec.family === 'equalStep' ? 10 : Math.round(Math.exp(rng.next() * Math.log(40)));
    const levels = Array.from({ length: spec.levels }, (_, l) => l / spec.levels);
    const cost = levels.map((_, l) => step * (spec.levels - l));
    return { name: `unit${i}`, levels, cost };
  });
  const { min, max } = costRange({ units, budget: { total: 0, mode: 'atMost' } });
  return { units, budget: { total: Math.round(min + spec.budgetFraction * (max - min)), mode: 'atMost' } };
}
