import { UserError } from '../errors.js';
import { SpaceIndex, checkBudget, describeBudget, type Genome, type Space } from '../space/space.js';
import { Rng } from '../rng/rng.js';
import { syntheticSpace, type SyntheticSpaceSpec } from '../space/synthetic.js';
import { DTYPE_BYTES, parseSize } from '../space/architecture.js';
import { databaseBudget } from '../compress/build.js';
import type { Manifest } from '../compress/manifest.js';

/** One budget of a sweep: the value the user wrote and the space it gives. */
export interface SweepPoint {
  value: number | string;
  space: Space;
}

/** How a sweep value reads for each form of space, for messages. */
const MEANING = {
  database: { sparsity: 'an average sparsity in [0, 1)', quantization: 'an average bit-width in [1, 16]', drop: 'a fraction of units dropped in [0, 1)' },
  synthetic: 'a budget fraction in [0, 1] (as budgetFraction)',
  architecture: 'a size such as "3 MB" or a fraction of the teacher such as "1/10"',
  inline: 'a total cost',
};

/**
 * The space of each budget of a sweep (`"sweep": [...]`), from the experiment's own space: a level
 * database's target (sparsity, bits or fraction dropped), a synthetic space's budget fraction, an
 * architecture's size, or an inline space's total. Each point keeps the units; only the budget
 * (and, for a database, its uniform configuration) changes.
 */
export function sweepPoints(values: (number | string)[], base: Space, form: { manifest: Manifest } | { synthetic: SyntheticSpaceSpec } | 'architecture' | 'inline', file: string): SweepPoint[] {
  return values.map((value, i) => {
    const field = `sweep[${i}]`;
    const expected = (meaning: string) => new UserError(`${file}: ${field}: expected ${meaning}, got ${JSON.stringify(value)}`);
    let space: Space;
    if (typeof form === 'object' && 'manifest' in form) {
      const c = form.manifest.compression;
      const ok = typeof value === 'number' && (c.type === 'quantization' ? value >= 1 && value <= 16 : value >= 0 && value < 1);
      if (!ok) throw expected(MEANING.database[c.type]);
      space = databaseSpaceAt(base, form.manifest, value as number);
    } else if (typeof form === 'object') {
      if (typeof value !== 'number' || value < 0 || value > 1) throw expected(MEANING.synthetic);
      space = syntheticSpace({ ...form.synthetic, budgetFraction: value });
    } else if (form === 'architecture') {
      const a = base.architecture!;
      const total = parseSize(value, a.teacher.parameters * DTYPE_BYTES[a.dtype]);
      if (total === null) throw expected(MEANING.architecture);
      space = { ...base, budget: { mode: 'atMost', total } };
    } else {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw expected(MEANING.inline);
      space = { ...base, budget: { ...base.budget, total: value } };
    }
    const infeasible = checkBudget(space);
    if (infeasible) throw new UserError(`${file}: ${field}: no configuration can meet the budget ${describeBudget(space.budget)}: ${infeasible}`);
    return { value, space };
  });
}

/**
 * A database's space at another target. Its levels step by a fixed number of weights (sparsity)
 * or bits, so a total that no configuration hits exactly gets a tolerance of half the smallest
 * level step; the uniform configuration puts each unit at the level nearest the target (a drop
 * database has none: the search starts from the most uniform feasible configuration).
 */
function databaseSpaceAt(base: Space, manifest: Manifest, target: number): Space {
  const c = { ...manifest.compression, target };
  const budget = databaseBudget(c, manifest.units);
  const steps = base.units.flatMap((u) => [...u.cost].sort((a, b) => a - b).flatMap((cost, k, sorted) => (k > 0 && cost > sorted[k - 1] ? [cost - sorted[k - 1]] : [])));
  const halfStep = steps.length > 0 ? Math.min(...steps) / 2 : 0;
  const atTarget = budget.mode === 'equal' && target !== manifest.compression.target ? { ...budget, tolerance: Math.max(budget.tolerance, halfStep) } : budget;
  if (c.type === 'drop') return { units: base.units, budget: atTarget };
  // The level nearest the target in every unit, moved into the budget by seeded single steps where the rounding misses it.
  const uniform: Genome = base.units.map((u) => u.levels.reduce((best, v, l) => (Math.abs(v - target) < Math.abs(u.levels[best] - target) ? l : best), 0));
  const fits = new SpaceIndex({ units: base.units, budget: atTarget }).repair(uniform, Rng.fromSeed(`sweep-uniform:${target}`), false);
  return { units: base.units, budget: atTarget, ...(fits && { uniform }) };
}
