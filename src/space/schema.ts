import { z } from 'zod';
import { finite } from '../validation.js';

/** A unit as a search-space file writes it: its levels and the cost of each. */
export const unitSchema = z
  .strictObject({
    name: z.string().min(1),
    /** What each level means to the user (sparsity, bits, ...), index-aligned with `cost`. */
    levels: z.array(finite).min(1, 'expected at least one level'),
    cost: z.array(finite).min(1, 'expected at least one cost'),
  })
  .refine((u) => u.levels.length === u.cost.length, {
    message: 'expected as many costs as levels',
    path: ['cost'],
  });

/** `atMost`: total cost ≤ total; `equal`: within ± tolerance of total. */
export const budgetSchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('atMost'), total: finite }),
  z.strictObject({ mode: z.literal('equal'), total: finite, tolerance: finite.refine((t) => t >= 0, 'expected ≥ 0').default(0) }),
]);

export const spaceSchema = z
  .strictObject({
    units: z.array(unitSchema).min(1, 'expected at least one unit'),
    budget: budgetSchema,
  })
  .superRefine((space, ctx) => {
    const seen = new Set<string>();
    space.units.forEach((u, i) => {
      if (seen.has(u.name)) ctx.addIssue({ code: 'custom', path: ['units', i, 'name'], message: `duplicate unit name "${u.name}"` });
      seen.add(u.name);
    });
  });

export type Unit = z.infer<typeof unitSchema>;
export type Budget = z.infer<typeof budgetSchema>;
