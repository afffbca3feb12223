import { z } from 'zod';
import { DTYPE_BYTES, type Dtype } from './architecture.js';

const values = (what: string) =>
  z
    .array(z.number().int().min(1, `expected ${what} ≥ 1`))
    .min(1, `expected at least one ${what}`)
    .refine((list) => new Set(list).size === list.length, `expected distinct ${what} values`);

/**
 * A GPT-2 student space of a teacher language model. Every width must be a multiple of every head
 * count, so a head count that does not divide the width cannot be drawn at all: the space is
 * refused at start instead of penalising such students during the search.
 */
export const transformerArchitectureSchema = z
  .strictObject({
    family: z.literal('gpt2'),
    /** The teacher's model directory (relative to the experiment): vocabulary, context, and what "1/10" is a tenth of. */
    teacher: z.string().min(1),
    dtype: z.enum(Object.keys(DTYPE_BYTES) as [Dtype, ...Dtype[]]).default('float32'),
    /** One heads gene and one MLP-width gene per block (up to the largest block count) instead of one each for all blocks. */
    elastic: z.boolean().default(false),
    blocks: values('block count'),
    width: values('width'),
    heads: values('head count'),
    mlpWidth: values('MLP width'),
  })
  .superRefine((a, ctx) => {
    for (const w of a.width) {
      const bad = a.heads.find((h) => w % h !== 0);
      if (bad !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['heads'], message: `expected head counts that divide every width: width ${w} is not a multiple of ${bad} heads` });
        return;
      }
    }
  });

/** The deepest CNN: 28 × 28 pictures halve four times (28, 14, 7, 3, 1) before nothing is left. */
export const MAX_CNN_STAGES = 4;

/** A CNN student space of the clothing classifier: stages of conv + ReLU + 2×2 max-pool, then a hidden dense layer. */
export const cnnArchitectureSchema = z.strictObject({
  family: z.literal('cnn'),
  /** The classifier's LayersModel directory (relative to the experiment): what "1/4" is a quarter of. */
  teacher: z.string().min(1),
  dtype: z.enum(Object.keys(DTYPE_BYTES) as [Dtype, ...Dtype[]]).default('float32'),
  stages: values('stage count').refine((list) => list.every((s) => s <= MAX_CNN_STAGES), `expected at most ${MAX_CNN_STAGES} stages: a 28 × 28 picture halves only four times`),
  channels: values('channel count'),
  kernels: values('kernel size').refine((list) => list.every((k) => k % 2 === 1), 'expected odd kernel sizes (a \'same\' convolution centres its kernel)'),
  dense: values('dense width'),
});

/** `atMost`: bytes ("3 MB", "512 KiB", 3000000) or a fraction of the teacher's size ("1/10", "0.25"). */
export const sizeBudgetSchema = z.strictObject({ atMost: z.union([z.number().positive(), z.string().min(1)]) });

export const architectureSpaceSchema = z.strictObject({
  architecture: z.discriminatedUnion('family', [transformerArchitectureSchema, cnnArchitectureSchema]),
  budget: sizeBudgetSchema,
});

export type ArchitectureSpaceInput = z.infer<typeof architectureSpaceSchema>;
