import { describe, expect, it } from 'vitest';
import { Rng } from '../src/rng/rng.js';
import { SpaceIndex, type Genome, type Space } from '../src/space/space.js';
import { evopress, type EvoPressConfig } from '../src/strategies/evopress.js';
import { createStrategy, strategySchema } from '../src/strategies/index.js';
import { syntheticSpace } from '../src/space/synthetic.js';
import { SyntheticProblem, additiveOptimum } from '../src/fitness/synthetic.js';
import { context, drive } from './helpers.js';
import { descentRun } from '../src/tools/bench/descent.js';

const base: EvoPressConfig = { type: 'evopress', generations: 50, offspring: 16, selection: [{ survivors: 4, budget: 1 }, { survivors: 1, budget: 4 }], maxJump: 16, screening: 16, memory: 512, proposalEvery: 10, trustRadius: 3, modelLed: 'averaging', finalists: 4 };
const space = syntheticSpace({ family: 'unequalCost', units: 30, levels: 6, seed: 2, budgetFraction: 0.5 });
const problem = new SyntheticProblem(space, { seed: 2, noise: 0.3 });

describe('Rng', () => {
  it('continues the exact sequence from an exported state', () => {
    const a = Rng.fromSeed(42);
    for (let i = 0; i < 10; i++) a.next();
    const b = Rng.fromState(JSON.parse(JSON.stringify(a.state())));
    expect(Array.from({ length: 20 }, () => b.next())).toEqual(Array.from({ length: 20 }, () => a.next()));
  });
});

describe('evopress', () => {
  it('asks for distinct offspring that differ from the parent, then races them through the stages', () => {
    const strategy = evopress(base);
    const ctx = context(space, 5, 8);
    const rng = Rng.fromSeed(5);
    let state = strategy.init(ctx, rng);
    for (let generation = 0; generation < 5; generation++) {
      const first = strategy.ask(state, ctx, rng)!;
      const keys = first.ask.candidates.map((g) => g.join(','));
      expect(new Set(keys).size).toBe(16);
      expect(keys).not.toContain(first.state.parent.join(','));
      expect(first.ask.fidelity.budget).toBe(1);
      state = strategy.tell(first.state, first.ask.candidates.map((g) => problem.evaluate(g, first.ask.fidelity)), ctx, rng);
      const last = strategy.ask(state, ctx, rng)!;
      // The 4 survivors, the replicates of the noise estimate (earlier candidates measured again), and the parent, at the last stage's budget.
      expect(last.ask.candidates.length).toBeGreaterThanOrEqual(5);
      expect(last.ask.candidates.at(-1)).toEqual(state.parent);
      expect(last.state.extras).toEqual(last.ask.candidates.slice(4, -1));
      expect(last.ask.fidelity.budget).toBe(4);
      expect(first.ask.candidates.map((g) => g.join(','))).toEqual(expect.arrayContaining(last.state.racing.map((g) => g.join(','))));
      expect(last.state.racing).toHaveLength(4);
      state = strategy.tell(last.state, last.ask.candidates.map((g) => problem.evaluate(g, last.ask.fidelity)), ctx, rng);
      expect(state.generation).toBe(generation + 1);
    }
  });

  it("proposes the model's optimum every generation and widens its trust radius while proposals win, narrows it when they lose", () => {
    const exact = new SyntheticProblem(space, { seed: 2, propagation: 'chain' });
    const strategy = evopress({ ...base, selection: [{ survivors: 1, budget: 1 }], proposalEvery: 1, generations: 200 });
    const ctx = context(space, 5, 1);
    const rng = Rng.fromSeed(5);
    let state = strategy.init(ctx, rng);
    const widest = Math.max(...space.units.map((u) => u.levels.length - 1));
    let wins = 0;
    let losses = 0;
    while (true) {
      const next = strategy.ask(state, ctx, rng);
      if (!next) break;
      const before = next.state;
      state = strategy.tell(before, next.ask.candidates.map((g) => exact.evaluate(g, next.ask.fidelity)), ctx, rng);
      if (!before.proposal) {
        expect(state.radius).toBe(before.radius);
        continue;
      }
      expect(next.ask.candidates).toContainEqual(before.proposal);
      if (state.parent.join(',') === before.proposal.join(',')) {
        wins++;
        expect(state.radius).toBe(Math.min(widest, 2 * before.radius));
      } else {
        losses++;
        expect(state.radius).toBe(Math.max(1, Math.floor(before.radius / 2)));
      }
    }
    expect(wins).toBeGreaterThan(0);
    expect(losses).toBeGreaterThan(0);
  });

  it('asks for fewer offspring when the neighbourhood is smaller than λ', () => {
    const tiny: Space = { units: [0, 1].map((i) => ({ name: `u${i}`, levels: [0, 1], cost: [2, 1] })), budget: { total: 3, mode: 'atMost' } };
    const strategy = evopress({ ...base, selection: [{ survivors: 1, budget: 1 }], generations: 3 });
    const ctx = context(tiny);
    const rng = Rng.fromSeed(1);
    const state = strategy.init(ctx, rng);
    const next = strategy.ask(state, ctx, rng)!;
    // From [1,0] or [0,1], the only budget-keeping switch is the swap (and the all-cheap config).
    expect(next.ask.candidates.length).toBeGreaterThan(1);
    expect(next.ask.candidates.length).toBeLessThanOrEqual(3);
  });

  it('keeps an offspring that ties the parent (drifts across plateaus)', () => {
    const strategy = evopress({ ...base, selection: [{ survivors: 1, budget: 1 }] });
    const ctx = context(space);
    const rng = Rng.fromSeed(3);
    const state = strategy.init(ctx, rng);
    const next = strategy.ask(state, ctx, rng)!;
    const after = strategy.tell(next.state, next.ask.candidates.map(() => 1), ctx, rng);
    expect(after.parent).not.toEqual(state.parent);
    expect(after.parent).toEqual(next.ask.candidates[0]);
  });
});

describe('strategies are pure and resumable', () => {
  it.each(['evopress', 'genetic', 'random', 'uniform'])('%s: a JSON round trip of state and RNG at every step changes nothing', (type) => {
    const config = strategySchema.parse(
      type === 'evopress' ? { type, generations: 40, selection: base.selection } : type === 'genetic' ? { type, generations: 15, population: 16 } : type === 'random' ? { type, samples: 200, batch: 32 } : { type },
    );
    const strategy = createStrategy(config);
    const ctx = context(space, 9, 4);
    const score = (g: number[], budget: number, slice: number) => problem.evaluate(g, { budget, slice });
    const straight = drive(strategy, ctx, 9, score);

    // The same run, but every step goes through JSON as a checkpoint would.
    let rng = Rng.fromSeed(9);
    let state: unknown = JSON.parse(JSON.stringify(strategy.init(ctx, rng)));
    for (;;) {
      rng = Rng.fromState(JSON.parse(JSON.stringify(rng.state())));
      const next = strategy.ask(state, ctx, rng);
      if (!next) break;
      const scores = next.ask.candidates.map((g) => score(g, next.ask.fidelity.budget, next.ask.fidelity.slice));
      state = JSON.parse(JSON.stringify(strategy.tell(next.state, scores, ctx, rng)));
    }
    expect(strategy.best(state)).toEqual(strategy.best(straight.state));
    expect(strategy.best(state)).not.toBeNull();
  });
});

describe('synthetic problems', () => {
  it('the DP optimum matches brute force on small problems', () => {
    for (const family of ['equalStep', 'unequalCost'] as const) {
      for (let seed = 1; seed <= 5; seed++) {
        const small = syntheticSpace({ family, units: 5, levels: 4, seed, budgetFraction: 0.4 });
        const p = new SyntheticProblem(small, { seed });
        const index = new SpaceIndex(small);
        let best = Infinity;
        for (let code = 0; code < 4 ** 5; code++) {
          const g = Array.from({ length: 5 }, (_, i) => Math.floor(code / 4 ** i) % 4);
          if (index.isFeasible(g)) best = Math.min(best, p.exact(g));
        }
        const dp = additiveOptimum(small, p.loss);
        expect(dp.value).toBeCloseTo(best, 9);
        expect(p.exact(dp.genome)).toBeCloseTo(best, 9);
        expect(index.isFeasible(dp.genome)).toBe(true);
      }
    }
  });

  it.each(['chain', 'multiplicative'] as const)('the exact optimum of %s propagation matches brute force on small problems', (propagation) => {
    for (const family of ['equalStep', 'unequalCost'] as const) {
      for (let seed = 1; seed <= 4; seed++) {
        const small = syntheticSpace({ family, units: 5, levels: 4, seed, budgetFraction: 0.4 });
        const p = new SyntheticProblem(small, { seed, propagation, strength: 1.5 });
        const index = new SpaceIndex(small);
        let best = Infinity;
        let additive = Infinity;
        for (let code = 0; code < 4 ** 5; code++) {
          const g = Array.from({ length: 5 }, (_, i) => Math.floor(code / 4 ** i) % 4);
          if (!index.isFeasible(g)) continue;
          best = Math.min(best, p.gapObjective(g));
          additive = Math.min(additive, g.reduce((sum, level, i) => sum + p.loss[i][level], 0));
        }
        const optimum = p.optimum();
        expect(optimum.value).toBeCloseTo(best, 9);
        expect(p.gapObjective(optimum.genome)).toBeCloseTo(best, 9);
        expect(index.isFeasible(optimum.genome)).toBe(true);
        // The propagation really changes the objective: it is not the additive sum.
        expect(best).not.toBeCloseTo(additive, 3);
      }
    }
  });

  it.each(['additive', 'chain', 'multiplicative'] as const)('the optimum near a configuration (%s) is the best within its radius, by brute force', (propagation) => {
    for (const family of ['equalStep', 'unequalCost'] as const) {
      for (let seed = 1; seed <= 3; seed++) {
        const small = syntheticSpace({ family, units: 5, levels: 4, seed, budgetFraction: 0.4 });
        const p = new SyntheticProblem(small, { seed, propagation, strength: 1.5 });
        const index = new SpaceIndex(small);
        const center = index.start()!;
        const all = Array.from({ length: 4 ** 5 }, (_, code) => Array.from({ length: 5 }, (_, i) => Math.floor(code / 4 ** i) % 4)).filter((g) => index.isFeasible(g));
        const within = (g: Genome, radius: number) => g.every((level, u) => Math.abs(index.rankOf[u][level] - index.rankOf[u][center[u]]) <= radius);
        for (const radius of [0, 1, 2]) {
          const best = Math.min(...all.filter((g) => within(g, radius)).map((g) => p.gapObjective(g)));
          const near = p.optimum({ center, radius });
          expect(within(near.genome, radius)).toBe(true);
          expect(index.isFeasible(near.genome)).toBe(true);
          expect(p.gapObjective(near.genome)).toBeCloseTo(best, 9);
        }
        // A reach of every rank is the whole space.
        expect(p.optimum({ center, radius: 3 }).value).toBeCloseTo(p.optimum().value, 9);
      }
    }
  });

  it('exact descent within a radius stops where no move of that reach improves, and a full reach ends at the optimum', () => {
    for (const propagation of ['chain', 'multiplicative'] as const) {
      const spec = { family: 'equalStep' as const, units: 30, levels: 6, seed: 2, budgetFraction: 0.5 };
      const p = new SyntheticProblem(syntheticSpace(spec), { seed: spec.seed, propagation });
      const whole = descentRun(spec, { propagation }, 5);
      expect(whole.gap).toBeCloseTo(0, 9);
      expect(whole.moves).toBe(1);
      const local = descentRun(spec, { propagation }, 1);
      expect(local.moves).toBeGreaterThan(0);
      expect(p.gapObjective(p.optimum({ center: local.genome, radius: 1 }).genome)).toBeGreaterThanOrEqual(p.gapObjective(local.genome));
    }
  });

  it('noise relative to the uniform configuration, constant in the budget, is fixed per (configuration, slice)', () => {
    const p = new SyntheticProblem(space, { seed: 2, noise: 0.02, noiseScale: 'uniformLoss', noiseShrinks: false });
    const g = new SpaceIndex(space).uniform()!;
    expect(p.noiseSd).toBeCloseTo(0.02 * p.exact(g), 12);
    expect(p.evaluate(g, { budget: 1, slice: 3 })).toBe(p.evaluate(g, { budget: 8, slice: 3 }));
    const xs = Array.from({ length: 400 }, (_, slice) => p.evaluate(g, { budget: 4, slice }) - p.exact(g));
    const sd = Math.sqrt(xs.reduce((a, b) => a + b * b, 0) / xs.length);
    expect(sd / p.noiseSd).toBeGreaterThan(0.85);
    expect(sd / p.noiseSd).toBeLessThan(1.15);
  });

  it('losses are monotone in compression but not convex, and step costs vary 1–40× in the unequal family', () => {
    const s = syntheticSpace({ family: 'unequalCost', units: 200, levels: 8, seed: 1, budgetFraction: 0.5 });
    const steps = s.units.map((u) => u.cost[0] - u.cost[1]);
    expect(Math.min(...steps)).toBe(1);
    expect(Math.max(...steps)).toBeGreaterThanOrEqual(35);
    const p = new SyntheticProblem(s, { seed: 1 });
    let nonConvex = 0;
    for (const loss of p.loss) {
      for (let l = 1; l < loss.length; l++) expect(loss[l]).toBeGreaterThan(loss[l - 1]);
      for (let l = 2; l < loss.length; l++) if (loss[l] - loss[l - 1] < loss[l - 1] - loss[l - 2]) nonConvex++;
    }
    expect(nonConvex).toBeGreaterThan(100);
  });

  it('noise is deterministic per (genome, budget, slice) and shrinks with the budget', () => {
    const g = new SpaceIndex(space).uniform()!;
    expect(problem.evaluate(g, { budget: 1, slice: 3 })).toBe(problem.evaluate(g, { budget: 1, slice: 3 }));
    const spread = (budget: number) => {
      const xs = Array.from({ length: 200 }, (_, slice) => problem.evaluate(g, { budget, slice }));
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      return Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
    };
    expect(spread(16)).toBeLessThan(spread(1) / 2);
  });
});
