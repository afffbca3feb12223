import { z } from 'zod';
import { positiveInt } from '../validation.js';
import { spaceSchema } from '../space/schema.js';
import { syntheticSpaceSchema } from '../space/synthetic.js';
import { strategySchema } from '../strategies/index.js';
import { fitnessSchema } from '../fitness/load.js';

/** An experiment file: each part's schema lives beside the code it configures; this only assembles them. */
export const experimentSchema = z.strictObject({
  name: z.string().min(1),
  seed: z.number().int().default(1),
  space: z.union([
    /** A search-space file, relative to the experiment. */
    z.string().min(1),
    z.strictObject({ synthetic: syntheticSpaceSchema }),
    /** A level database config (relative to the experiment): `run` builds or reuses it; its levels are the space. */
    z.strictObject({ database: z.string().min(1) }),
    spaceSchema,
  ]),
  strategy: strategySchema,
  fitness: fitnessSchema,
  workers: positiveInt.optional(),
  stop: z.strictObject({ maxEvaluations: positiveInt.optional() }).default({}),
});

export type ExperimentInput = z.infer<typeof experimentSchema>;
