import type { Experiment } from '../config/load.js';
import type { RunResult } from '../export/result.js';
import { LmFitness, type LmFitnessSpec } from '../fitness/lm.js';
import { SpaceIndex } from '../space/space.js';

export interface HeldOutRow {
  configuration: 'dense' | 'uniform' | 'search';
  kl: number;
  ppl: number;
  cost: number | null;
}

/** The search's best configuration against uniform compression at the same budget (and the dense model), on held-out text. */
export async function heldOutComparison(experiment: Experiment, result: RunResult): Promise<HeldOutRow[]> {
  const spec = experiment.fitness as LmFitnessSpec;
  const space = new SpaceIndex(experiment.space);
  const uniform = space.uniform();
  const best = result.units.map((u) => u.level);
  const fitness = await LmFitness.load(spec);
  try {
    const [dense, uni, search] = await fitness.measureHeldOut([null, uniform, best]);
    return [
      { configuration: 'dense', ...dense, cost: null },
      { configuration: 'uniform', ...uni, cost: uniform ? space.cost(uniform) : null },
      { configuration: 'search', ...search, cost: space.cost(best) },
    ];
  } finally {
    await fitness.close();
  }
}

export function formatHeldOut(rows: HeldOutRow[]): string {
  const lines = ['held-out (State of the Union 2011–2021, 64 windows):', 'configuration  KL (nats/token)  perplexity  cost'];
  for (const r of rows) lines.push(`${r.configuration.padEnd(13)}  ${r.kl.toFixed(5).padStart(15)}  ${r.ppl.toFixed(3).padStart(10)}  ${r.cost ?? '-'}`);
  return lines.join('\n');
}
