import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { positiveInt, readJson, validate } from '../validation.js';

const fraction = (what: string) => z.number().refine((x) => x >= 0 && x < 1, `expected a ${what} in [0, 1)`);

/** `evosearch db build <config>`: which model, which compression, which calibration text. */
export const databaseConfigSchema = z.strictObject({
  /** Model directory (config.json, model.safetensors, tokenizer.json), relative to the config file. */
  model: z.string().min(1),
  /** Where the database goes (manifest.json + one safetensors file per unit), relative to the config file. */
  out: z.string().min(1),
  /** How level tensors are stored: f32, or f16 (half the disk and memory; values rounded to float16, a level past ±65504 refused). */
  dtype: z.enum(['f32', 'f16']).default('f32'),
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
      /** Calibration samples: token windows of a language model, pictures of a classifier, patches of an image model. */
      windows: positiveInt.default(32),
      /** Tokens per window of a language model (default: its context), or the side in pixels of an image model's patches (default 32). */
      length: positiveInt.optional(),
    })
    .default({ windows: 32 }),
});

export type Compression = z.infer<typeof databaseConfigSchema>['compression'];

/** A database config with its paths resolved against the file it came from. */
export type DatabaseConfig = z.infer<typeof databaseConfigSchema> & { source: string; modelDir: string; outDir: string };

export function loadDatabaseConfig(path: string): DatabaseConfig {
  const source = resolve(path);
  const input = validate(databaseConfigSchema, readJson(source, 'database config'), source);
  return { ...input, source, modelDir: resolve(dirname(source), input.model), outDir: resolve(dirname(source), input.out) };
}
