import { SpaceIndex, genomeKey, type Genome } from '../../space/space.js';
import { syntheticSpace, type SyntheticSpaceSpec } from '../../space/synthetic.js';
import { SyntheticProblem, type SyntheticProblemSpec } from '../../fitness/synthetic.js';

export interface DescentRun {
  /** Relative gap of where the descent stops to the optimum, in percent. */
  gap: number;
  moves: number;
  /** Where it stops. */
  genome: Genome;
}

/**
 * Steepest descent with an exact model of the neighbourhood: from the configuration a search
 * starts at, move to the best configuration whose units are all within `radius` ranks of the
 * current one, interactions included, until that is the current one. Where it stops, no move of
 * that reach improves: a search that moves to its model's optimum within `radius` ranks stops
 * there too once its model is exact, and only leaves by chance (noise), not by design.
 */
export function descentRun(spaceSpec: SyntheticSpaceSpec, problemSpec: Omit<SyntheticProblemSpec, 'seed'>, radius: number): DescentRun {
  const space = syntheticSpace(spaceSpec);
  const problem = new SyntheticProblem(space, { ...problemSpec, seed: spaceSpec.seed });
  const optimum = problem.optimum().value;
  const start = new SpaceIndex(space).start();
  if (!start) throw new Error('no feasible starting configuration');
  let current: Genome = start;
  let moves = 0;
  for (;;) {
    const next = problem.optimum({ center: current, radius }).genome;
    // Ties do not count as progress, so the loop ends.
    if (genomeKey(next) === genomeKey(current) || problem.gapObjective(next) >= problem.gapObjective(current)) break;
    current = next;
    moves++;
  }
  return { gap: ((problem.gapObjective(current) - optimum) / Math.abs(optimum)) * 100, moves, genome: current };
}
