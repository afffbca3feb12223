import { describe, expect, it } from 'vitest';
import { Rng } from '../src/rng/rng.js';
import { SpaceIndex } from '../src/space/space.js';
import { createStrategy, strategySchema } from '../src/strategies/index.js';
import type { Strategy } from '../src/strategies/types.js';
import { context, drive, feasibleRandomSpaces } from './helpers.js';

// Built as a run builds them (defaults, validation included). Random scores are all noise, so evopress
// also goes model-led (wide perturbations, moves to the model's optimum) on spaces with several slices.
const strategies: Strategy[] = [
  // With the model (proposals every 3 generations, so its DP runs often) and without it.
  { type: 'evopress', generations: 30, offspring: 8, selection: [{ survivors: 3, budget: 1 }, { survivors: 1, budget: 2 }], screening: 8, memory: 64, proposalEvery: 3 },
  { type: 'evopress', generations: 30, offspring: 8, maxJump: 3, screening: 0, memory: 0, proposalEvery: 0, trustRadius: 0 },
  { type: 'genetic', generations: 10, population: 12 },
  { type: 'genetic', generations: 10, population: 12, elite: 1, tournament: 2, crossover: 'onePoint', crossoverRate: 1, mutationRate: 0.3, switchRate: 0, maxJump: 2, survival: 'generational' },
  { type: 'random', samples: 40, batch: 16 },
  { type: 'uniform' },
].map((config) => createStrategy(strategySchema.parse(config)));

describe('every emitted candidate satisfies the budget', () => {
  const spaces = feasibleRandomSpaces(120, 7);

  it('holds over 120 random spaces × 6 strategies × random scores [slow]', { timeout: 240_000 }, () => {
    let checked = 0;
    spaces.forEach((space, s) => {
      const ctx = context(space, s, 1 + (s % 4), 2);
      const index = new SpaceIndex(space);
      for (const strategy of strategies) {
        const scores = Rng.fromSeed(`scores${s}`);
        drive(strategy, ctx, s, () => scores.next(), {
          onAsk: (candidates) => {
            for (const g of candidates) {
              expect(index.isValid(g), `${strategy.type} on space ${s}: invalid genome`).toBe(true);
              expect(index.fits(index.cost(g)), `${strategy.type} on space ${s}: cost ${index.cost(g)} outside budget`).toBe(true);
              checked++;
            }
          },
        });
      }
    });
    expect(checked).toBeGreaterThan(20_000);
  });

  it('random genomes and repair land inside the budget', () => {
    const drawn = { atMost: 0, equal: 0 };
    const found = { atMost: 0, equal: 0 };
    spaces.forEach((space, s) => {
      const index = new SpaceIndex(space);
      const rng = Rng.fromSeed(s);
      const genomes = Array.from({ length: 20 }, () => index.random(rng)).filter((g) => g !== null);
      for (const g of genomes) expect(index.isFeasible(g), `space ${s}: infeasible random genome`).toBe(true);
      drawn[space.budget.mode] += 20;
      found[space.budget.mode] += genomes.length;
      const u = index.uniform();
      expect(u, `space ${s}: no uniform genome`).not.toBeNull();
      expect(index.isFeasible(u!), `space ${s}: infeasible uniform genome`).toBe(true);
    });
    // Stepping down always reaches an `atMost` budget, so repair never gives up there; an `equal`
    // budget can fall between reachable costs, but repair must still land inside it nearly always.
    // Both modes must have been drawn, or the property says nothing about one of them.
    expect(drawn.atMost).toBeGreaterThan(0);
    expect(drawn.equal).toBeGreaterThan(0);
    expect(found.atMost).toBe(drawn.atMost);
    expect(found.equal).toBeGreaterThan(0.9 * drawn.equal);
  });
});
