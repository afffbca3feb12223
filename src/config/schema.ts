import { z } from 'zod';

const finite = z.number().refine(Number.isFinite, 'expected a finite number');
const positiveInt = z.number().int().min(1);

export const unitSchema = z
  .strictObject({
    name: z.string().min(1),
    levels: z.array(finite).min(1, 'expected at least one level'),
    cost: z.array(finite).min(1, 'expected at least one cost'),
  })
  .refine((u) => u.levels.length === u.cost.length, {
    message: 'expected as many costs as levels',
    path: ['cost'],
  });

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

export const syntheticSpaceSchema = z.strictObject({
  family: z.enum(['equalStep', 'unequalCost']),
  units: positiveInt,
  levels: z.number().int().min(2),
  seed: z.number().int().default(1),
  budgetFraction: z.number().min(0).max(1).default(0.5),
});

const stageSchema = z.strictObject({ survivors: positiveInt, budget: z.number().positive() });

export const strategySchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('evopress'),
    generations: positiveInt,
    offspring: positiveInt.default(16),
    selection: z.array(stageSchema).min(1).default([{ survivors: 1, budget: 1 }]),
    maxJump: positiveInt.default(16),
    screening: z.number().int().min(0).default(16),
    memory: z.number().int().min(0).default(512),
    proposalEvery: z.number().int().min(0).default(10),
    trustRadius: z.number().int().min(0).default(3),
  }),
  z.strictObject({
    type: z.literal('genetic'),
    generations: positiveInt,
    population: z.number().int().min(2).default(64),
    elite: z.number().int().min(0).default(2),
    tournament: positiveInt.default(3),
    crossover: z.enum(['uniform', 'onePoint']).default('uniform'),
    crossoverRate: z.number().min(0).max(1).default(0.9),
    mutationRate: z.number().min(0).max(1).nullable().default(null),
    switchRate: z.number().min(0).max(1).default(0.5),
    maxJump: positiveInt.default(3),
    budget: z.number().positive().default(1),
    survival: z.enum(['plus', 'generational']).default('plus'),
  }),
  z.strictObject({
    type: z.literal('random'),
    samples: positiveInt,
    batch: positiveInt.default(64),
    budget: z.number().positive().default(1),
  }),
  z.strictObject({ type: z.literal('uniform'), budget: z.number().positive().default(1) }),
]);

const fitnessCommon = {
  minimize: z.boolean().default(true),
  /** How many distinct calibration slices the fitness offers; strategies pick among them. */
  slices: positiveInt.default(1),
};

export const fitnessSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('module'), path: z.string().min(1), ...fitnessCommon }),
  z.strictObject({
    type: z.literal('command'),
    command: z.array(z.string().min(1)).min(1, 'expected [program, ...args]'),
    ...fitnessCommon,
  }),
  z.strictObject({
    type: z.literal('synthetic'),
    seed: z.number().int().default(1),
    interactions: z.strictObject({ pairs: z.number().int().min(0), strength: z.number().min(0) }).optional(),
    noise: z.number().min(0).default(0),
    ...fitnessCommon,
  }),
]);

export const experimentSchema = z.strictObject({
  name: z.string().min(1),
  seed: z.number().int().default(1),
  space: z.union([z.string().min(1), z.strictObject({ synthetic: syntheticSpaceSchema }), spaceSchema]),
  strategy: strategySchema,
  fitness: fitnessSchema,
  workers: positiveInt.optional(),
  stop: z.strictObject({ maxEvaluations: positiveInt.optional() }).default({}),
});

export type StrategyConfig = z.infer<typeof strategySchema>;
export type FitnessConfig = z.infer<typeof fitnessSchema>;
export type ExperimentInput = z.infer<typeof experimentSchema>;
