import { z } from 'zod';
import { checkSlice, type Fitness, type FitnessContext, type FitnessSpec } from './types.js';
import { loadModuleFitness, moduleFitnessSchema } from './module.js';
import { commandFitnessSchema, startCommandFitness } from './command.js';
import { SyntheticProblem, syntheticFitnessSchema } from './synthetic.js';
import { LmFitness, lmFitnessSchema } from './lm.js';
import { ImageFitness, psnrFitnessSchema } from './image.js';
import { ClassifierFitness, accuracyFitnessSchema } from './classifier.js';
import { DistillFitness, distillFitnessSchema } from './distill.js';
import { flopsFitness, flopsFitnessSchema } from './flops.js';
import { TrainFitness, trainFitnessSchema } from './train.js';

/** Every fitness's settings as an experiment writes them, told apart by `type`: each schema sits beside its fitness. */
export const fitnessSchema = z.discriminatedUnion('type', [
  moduleFitnessSchema,
  commandFitnessSchema,
  lmFitnessSchema,
  accuracyFitnessSchema,
  psnrFitnessSchema,
  syntheticFitnessSchema,
  flopsFitnessSchema,
  distillFitnessSchema,
  trainFitnessSchema,
]);

export type FitnessInput = z.infer<typeof fitnessSchema>;

/** Builds the fitness a spec names. Runs in a worker, once per run, and in the coordinator for held-out data. */
export async function loadFitness(spec: FitnessSpec, ctx: FitnessContext): Promise<Fitness> {
  switch (spec.type) {
    case 'module':
      return loadModuleFitness(spec.path, ctx);
    case 'command':
      return startCommandFitness(spec.command, spec.cwd, ctx);
    case 'synthetic': {
      const problem = new SyntheticProblem(ctx.space, spec);
      // Every slice, validation slices too, draws its own noise: the slice is part of the draw's seed.
      return {
        evaluate: (genome, fidelity) => {
          checkSlice(fidelity, spec.slices, spec.validationSlices);
          return problem.evaluate(genome, fidelity);
        },
      };
    }
    case 'flops':
      return flopsFitness(ctx.space);
    case 'distill':
      return DistillFitness.load(spec, ctx);
    case 'train':
      return TrainFitness.load(spec, ctx);
    case 'psnr':
      return ImageFitness.load(spec);
    case 'accuracy':
      return ClassifierFitness.load(spec);
    default:
      return LmFitness.load(spec);
  }
}
