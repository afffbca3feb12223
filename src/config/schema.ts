import { z } from 'zod';
import { positiveInt } from '../validation.js';
import { spaceSchema } from '../space/schema.js';
import { syntheticSpaceSchema } from '../space/synthetic.js';
import { architectureSpaceSchema } from '../space/architecture-schema.js';
import { largestBudget, strategySchema } from '../strategies/index.js';
import { fitnessSchema } from '../fitness/load.js';
import { validationRoomProblem } from '../fitness/classifier.js';
import { remoteSettingsSchema } from '../pool/remote-protocol.js';

/** The five ways an experiment gives its space. */
const spaceForms = {
  /** A search-space file, relative to the experiment. */
  file: z.string().min(1),
  synthetic: z.strictObject({ synthetic: syntheticSpaceSchema }),
  /** A level database config (relative to the experiment): `run` builds or reuses it; its levels are the space. */
  database: z.strictObject({ database: z.string().min(1) }),
  /** A student architecture space: hyper-parameter genes, a teacher, and a size budget. */
  architecture: architectureSpaceSchema,
  inline: spaceSchema,
};

export type SpaceReference = z.infer<(typeof spaceForms)[keyof typeof spaceForms]>;

const SPACE_FORMS = 'a search-space file, an inline space, {"synthetic": {...}}, {"database": "<config>"} or {"architecture": {...}, "budget": {...}}';
const noSpaceForm = z.custom<never>(() => false, `expected ${SPACE_FORMS}`);

/**
 * The schema for the form `space` takes, told apart by its shape. A z.union of the four would
 * report only "Invalid input" for a mistake deep inside an inline space; checked against its own
 * form, the mistake is named where it is (`space.units[3].cost[2]`).
 */
export function spaceReferenceSchema(space: unknown): z.ZodType<SpaceReference> {
  if (typeof space === 'string') return spaceForms.file;
  if (!space || typeof space !== 'object' || Array.isArray(space)) return noSpaceForm;
  if ('synthetic' in space) return spaceForms.synthetic;
  if ('database' in space) return spaceForms.database;
  if ('architecture' in space) return spaceForms.architecture;
  return spaceForms.inline;
}

/**
 * An experiment file: each part's schema lives beside the code it configures; this only assembles
 * them. `space` is checked on its own, against {@link spaceReferenceSchema}. Where a fitness's
 * validation data must stay clear of what the strategy's budgets make the search read (accuracy:
 * both share the 5,000 calibration pictures), the two are checked together.
 */
export const experimentSchema = z
  .strictObject({
    name: z.string().min(1),
    seed: z.number().int().default(1),
    space: z.unknown().refine((space) => space !== undefined, `expected a space: ${SPACE_FORMS}`),
    strategy: strategySchema,
    fitness: fitnessSchema,
    workers: positiveInt.optional(),
    stop: z.strictObject({ maxEvaluations: positiveInt.optional() }).default({}),
    /** Evaluation on remote workers (`--redis`): how long a job whose worker died waits before another worker takes it. */
    remote: remoteSettingsSchema.optional(),
    /**
     * A budget sweep: one search per budget, in order, each starting from the previous one's best.
     * The values read as the space's own budget: a database's target, a synthetic budget fraction,
     * an architecture's size, or an inline space's total.
     */
    sweep: z.array(z.union([z.number(), z.string().min(1)])).min(2, 'expected at least two budgets').optional(),
  })
  .superRefine(({ strategy, fitness }, ctx) => {
    const problem = fitness.type === 'accuracy' ? validationRoomProblem(fitness, largestBudget(strategy)) : null;
    if (problem) ctx.addIssue({ code: 'custom', path: ['fitness', 'validationSlices'], message: problem });
  });

export type ExperimentInput = Omit<z.infer<typeof experimentSchema>, 'space'> & { space: SpaceReference };
