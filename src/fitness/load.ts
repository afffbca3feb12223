import type { Fitness, FitnessContext, FitnessSpec } from './types.js';
import { loadModuleFitness } from './module.js';
import { startCommandFitness } from './command.js';
import { SyntheticProblem } from './synthetic.js';
import { LmFitness } from './lm.js';
import { ImageFitness } from './image.js';
import { ClassifierFitness } from './classifier.js';

/** Builds the fitness a spec names. Runs in a worker, once per run. */
export async function loadFitness(spec: FitnessSpec, ctx: FitnessContext): Promise<Fitness> {
  switch (spec.type) {
    case 'module':
      return loadModuleFitness(spec.path, ctx);
    case 'command':
      return startCommandFitness(spec.command, spec.cwd, ctx);
    case 'synthetic': {
      const problem = new SyntheticProblem(ctx.space, spec);
      return { evaluate: (genome, fidelity) => problem.evaluate(genome, fidelity) };
    }
    case 'psnr':
      return ImageFitness.load(spec);
    case 'accuracy':
      return ClassifierFitness.load(spec);
    default:
      return LmFitness.load(spec);
  }
}
