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

/**
 * What the fitnesses of TensorFlow.js LayersModels (psnr, accuracy) share: maximised, run on
 * onnxruntime (the layer graph converted; 2–3× faster here) or on TensorFlow.js.
 */
const layersModelFitness = {
  levelCacheMiB: positiveInt.default(1024),
  backend: z.enum(['onnx', 'tfjs']).default('onnx'),
  /** The model directory, relative to the experiment; default: the one the database was built from. */
  model: z.string().min(1).optional(),
  minimize: z.literal(false).default(false),
};

export const fitnessSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('module'), path: z.string().min(1), ...fitnessCommon }),
  z.strictObject({
    type: z.literal('command'),
    command: z.array(z.string().min(1)).min(1, 'expected [program, ...args]'),
    ...fitnessCommon,
  }),
  z.strictObject({
    type: z.enum(['kl', 'kl-topk', 'ppl']),
    /** Calibration windows per unit of fidelity budget (a racing stage with budget 4 reads 4× as many). */
    windows: positiveInt.default(4),
    slices: positiveInt.default(16),
    length: positiveInt.optional(),
    topK: positiveInt.default(16),
    cacheMiB: positiveInt.default(256),
    levelCacheMiB: positiveInt.default(1024),
    backend: z.enum(['onnx', 'tfjs']).default('onnx'),
    device: z.enum(['cpu', 'cuda', 'webgpu']).default('cpu'),
    /** The model directory, relative to the experiment; default: the one the database was built from. */
    model: z.string().min(1).optional(),
    minimize: z.literal(true).default(true),
  }),
  z.strictObject({
    type: z.literal('accuracy'),
    /** Calibration pictures per unit of fidelity budget (the calibration split has 5,000). */
    windows: positiveInt.default(250),
    slices: positiveInt.default(6),
    ...layersModelFitness,
  }),
  z.strictObject({
    type: z.literal('psnr'),
    /** Calibration patches per unit of fidelity budget. */
    windows: positiveInt.default(4),
    slices: positiveInt.default(16),
    /** Side of a calibration patch, in pixels (default 32). */
    length: positiveInt.default(32),
    cacheMiB: positiveInt.default(256),
    ...layersModelFitness,
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
  space: z.union([
    z.string().min(1),
    z.strictObject({ synthetic: syntheticSpaceSchema }),
    /** A level database config (relative to the experiment): built or reused at launch, its levels are the space. */
    z.strictObject({ database: z.string().min(1) }),
    spaceSchema,
  ]),
  strategy: strategySchema,
  fitness: fitnessSchema,
  workers: positiveInt.optional(),
  stop: z.strictObject({ maxEvaluations: positiveInt.optional() }).default({}),
});

export type StrategyConfig = z.infer<typeof strategySchema>;
export type FitnessConfig = z.infer<typeof fitnessSchema>;
export type ExperimentInput = z.infer<typeof experimentSchema>;

const fraction = (what: string) => z.number().refine((x) => x >= 0 && x < 1, `expected a ${what} in [0, 1)`);

/** `evosearch db build <config>`: which model, which compression, which calibration text. */
export const databaseConfigSchema = z.strictObject({
  /** Model directory (config.json, model.safetensors, tokenizer.json), relative to the config file. */
  model: z.string().min(1),
  /** Where the database goes (manifest.json + one safetensors file per unit), relative to the config file. */
  out: z.string().min(1),
  /** The layers that become units, by unit name (e.g. "h.0.mlp.c_fc", "UPN1"); default: every compressible layer. Others stay dense. */
  units: z.array(z.string().min(1)).min(1).optional(),
  compression: z.discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('sparsity'),
      method: z.enum(['magnitude', 'wanda', 'sparsegpt']),
      /** The average sparsity the levels are centred on: it fixes the search budget. */
      target: fraction('sparsity'),
      /** Weights pruned per level step, as a fraction of the smallest layer: the same count in every layer. */
      step: z.number().positive().max(1).default(0.1),
      /** Level steps on each side of the target. */
      stepsEachSide: z.number().int().min(1).default(8),
      blockSize: positiveInt.default(128),
      damping: z.number().positive().default(0.01),
    }),
    z.strictObject({
      type: z.literal('quantization'),
      method: z.enum(['rtn', 'gptq']),
      /** The average bit-width the search must not exceed. */
      target: z.number().min(1).max(16),
      /**
       * How far below the target a configuration may fall, as a fraction of the target: like
       * EvoPress, the search compares configurations of (nearly) the same size, so that a cheaper
       * one cannot win on calibration noise alone. 1 allows any smaller size.
       */
      tolerance: z.number().min(0).max(1).default(0.02),
      bits: z.array(z.number().int().min(1).max(16)).min(2).default([2, 3, 4, 5, 6, 7, 8]),
      group: positiveInt.default(128),
      damping: z.number().positive().default(0.01),
    }),
    z.strictObject({
      type: z.literal('drop'),
      granularity: z.enum(['sublayer', 'block']).default('sublayer'),
      /** The fraction of units dropped. */
      target: fraction('fraction'),
    }),
  ]),
  calibration: z
    .strictObject({
      windows: positiveInt.default(32),
      /** Tokens per window (default: the model's context). */
      length: positiveInt.optional(),
    })
    .default({ windows: 32 }),
});

export type DatabaseConfigInput = z.infer<typeof databaseConfigSchema>;
