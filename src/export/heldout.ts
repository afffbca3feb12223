import type { Experiment } from '../engine/experiment.js';
import type { RunResult } from './result.js';
import { loadFitness } from '../fitness/load.js';
import { SpaceIndex } from '../space/space.js';

/** One configuration on held-out data: its metrics (kl and ppl for language models; psnrToDense and psnrToPhoto for images). */
export type HeldOutRow = { configuration: 'dense' | 'uniform' | 'search'; cost: number | null } & Record<string, number | string | null>;

/** Runs whose fitness runs a model over a level database, and so can be judged on held-out data. */
export const hasHeldOut = (e: Experiment) => 'database' in e.fitness;

/** The search's best configuration against uniform compression at the same budget (and the dense model), on held-out data. */
export async function heldOutComparison(experiment: Experiment, result: RunResult): Promise<HeldOutRow[]> {
  const space = new SpaceIndex(experiment.space);
  const uniform = space.uniform();
  const best = result.units.map((u) => u.level);
  const fitness = await loadFitness(experiment.fitness, { space: experiment.space, seed: experiment.seed });
  try {
    if (!fitness.measureHeldOut) throw new Error(`bug: ${experiment.fitness.type} fitness has no held-out measurement`);
    const [dense, uni, search] = await fitness.measureHeldOut([null, uniform, best]);
    // A classifier's accuracy moves in whole pictures: say how many the search gained and lost against uniform.
    const paired = fitness.pairedHeldOut && uniform ? await fitness.pairedHeldOut(uniform, best) : {};
    return [
      { configuration: 'dense', ...dense, cost: null },
      { configuration: 'uniform', ...uni, cost: uniform ? space.cost(uniform) : null },
      { configuration: 'search', ...search, ...paired, cost: space.cost(best) },
    ];
  } finally {
    await fitness.close?.();
  }
}

const HELD_OUT_TABLES: Record<string, { title: string; columns: { key: string; label: string; digits: number }[] }> = {
  psnr: {
    title: 'held-out (3 photographs never used in calibration, 24 patches ×2):',
    columns: [{ key: 'psnrToDense', label: 'PSNR to dense (dB)', digits: 2 }, { key: 'psnrToPhoto', label: 'PSNR to photo (dB)', digits: 2 }],
  },
  accuracy: {
    title: 'held-out (the 10,000 Fashion-MNIST test pictures, never used in training or calibration):',
    columns: [{ key: 'accuracy', label: 'accuracy', digits: 4 }, { key: 'agreement', label: 'agreement with dense', digits: 4 }],
  },
  text: {
    title: 'held-out (State of the Union 2011–2021, 64 windows):',
    columns: [{ key: 'kl', label: 'KL (nats/token)', digits: 5 }, { key: 'ppl', label: 'perplexity', digits: 3 }],
  },
};

/** What a run's held-out rows hold, by its fitness: a title and the metric columns. */
export const heldOutTable = (experiment: Experiment) => HELD_OUT_TABLES[experiment.fitness.type] ?? HELD_OUT_TABLES.text;

export function formatHeldOut(experiment: Experiment, rows: HeldOutRow[]): string {
  const { title, columns } = heldOutTable(experiment);
  const lines = [title, ['configuration', ...columns.map((c) => c.label), 'cost'].join('  ')];
  for (const r of rows) {
    const cells = columns.map((c) => (r[c.key] as number).toFixed(c.digits).padStart(c.label.length));
    lines.push([r.configuration.padEnd(13), ...cells, String(r.cost ?? '-')].join('  '));
  }
  const search = rows.find((r) => r.configuration === 'search');
  if (typeof search?.gained === 'number' && typeof search.lost === 'number') {
    lines.push(`search against uniform: right where uniform is wrong on ${search.gained}, wrong where uniform is right on ${search.lost} (McNemar z = ${mcnemarZ(search.gained, search.lost).toFixed(2)})`);
  }
  return lines.join('\n');
}

/** McNemar's statistic for paired right/wrong outcomes: |z| > 1.96 is a difference at the 5% level. */
export function mcnemarZ(gained: number, lost: number): number {
  return gained + lost === 0 ? 0 : (gained - lost) / Math.sqrt(gained + lost);
}
