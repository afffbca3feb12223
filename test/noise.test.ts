import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { SpaceIndex, type Genome, type Fidelity } from '../src/space/space.js';
import { syntheticSpace } from '../src/space/synthetic.js';
import { SyntheticProblem, syntheticFitnessSchema, type SyntheticProblemSpec } from '../src/fitness/synthetic.js';
import { createStrategy, strategySchema } from '../src/strategies/index.js';
import type { ValidatedState } from '../src/strategies/validation.js';
import type { EvoPressState } from '../src/strategies/evopress.js';
import { drive } from '../src/engine/drive.js';
import { noNoiseYet, noiseVariance, replicateCandidates, updateNoise, REPLICATES_KEPT, type NoiseEstimate } from '../src/strategies/noise.js';
import { Rng } from '../src/rng/rng.js';
import { sampleVariance } from '../src/statistics.js';
import { createRun, continueRun } from '../src/engine/engine.js';
import { Store } from '../src/store/store.js';
import type { Evaluator } from '../src/pool/evaluator.js';
import type { Experiment } from '../src/engine/experiment.js';
import { tempDir } from './cli-helpers.js';

const space = syntheticSpace({ family: 'equalStep', units: 40, levels: 8, seed: 3, budgetFraction: 0.5 });
const evopress = createStrategy(strategySchema.parse({ type: 'evopress', generations: 1_000_000 }));

/** Drives the default evopress on a synthetic problem; returns its final state. */
function run(problemSpec: SyntheticProblemSpec, slices: number, maxEvaluations: number, validationSlices = 0) {
  const problem = new SyntheticProblem(space, problemSpec);
  const ctx = { space: new SpaceIndex(space), seed: 7, slices, validationSlices };
  const { state, evaluations } = drive(evopress, ctx, 7, (g, budget, slice) => problem.evaluate(g, { budget, slice }), { maxEvaluations });
  return { state: state as ValidatedState<EvoPressState>, evaluations, problem };
}

/** The uniform configuration, and the switch that moves unit 0 a rank up and unit 1 a rank down. */
function switchFromUniform() {
  const index = new SpaceIndex(space);
  const reference = index.uniform()!;
  const genome = reference.slice();
  index.setRank(genome, 0, index.rank(genome, 0) + 1);
  index.setRank(genome, 1, index.rank(genome, 1) - 1);
  return { index, reference, genome };
}

describe('evopress measures the noise of its fitness by replicates', () => {
  it('recovers a constant noise of known size, and finds none in an exact fitness', () => {
    const noisy = run({ seed: 3, propagation: 'chain', noise: 0.4, noiseShrinks: false }, 16, 4000);
    expect(noisy.state.search.noise.replicates).toBeGreaterThan(20);
    expect(Math.sqrt(noiseVariance(noisy.state.search.noise))).toBeGreaterThan(0.4 * 0.7);
    expect(Math.sqrt(noiseVariance(noisy.state.search.noise))).toBeLessThan(0.4 * 1.3);

    const exact = run({ seed: 3, propagation: 'chain' }, 16, 4000);
    expect(exact.state.search.noise.replicates).toBeGreaterThan(20);
    expect(noiseVariance(exact.state.search.noise)).toBe(0);
  });

  it('goes model-led when the noise swamps what a switch changes, and stays selecting when the fitness is exact', () => {
    const noisy = run({ seed: 3, propagation: 'chain', noise: 0.1, noiseScale: 'uniformLoss', noiseShrinks: false }, 16, 6000);
    expect(noisy.state.search.mode).toBe('model');
    const exact = run({ seed: 3, propagation: 'chain' }, 16, 6000);
    expect(exact.state.search.mode).toBe('select');
  });

  it('with one slice, the replicate is the same switch made from a later parent: noise is found, an exact fitness shows none', () => {
    const noisy = run({ seed: 3, propagation: 'chain', noise: 0.02, noiseScale: 'uniformLoss', noiseShrinks: false }, 1, 6000);
    expect(noisy.state.search.noise.replicates).toBeGreaterThanOrEqual(8);
    expect(noisy.state.search.mode).toBe('model');
    const exact = run({ seed: 3 }, 1, 6000);
    expect(exact.state.search.noise.replicates).toBeGreaterThanOrEqual(8);
    expect(noiseVariance(exact.state.search.noise)).toBeLessThan(1e-12 * exact.state.search.noise.spread);
    expect(exact.state.search.mode).toBe('select');
  });

  it('transplants a pending switch only onto a parent whose switched units sit where they were', () => {
    const { index, reference, genome } = switchFromUniform();
    const noise = { ...noNoiseYet(), pending: { genome, reference, delta: 0.5, slice: 0 } };
    expect(replicateCandidates(noise, 0, reference, index)).toEqual([]);
    expect(replicateCandidates(noise, 1, reference, index)).toEqual([genome]);

    const later = reference.slice();
    index.setRank(later, 5, index.rank(later, 5) + 1);
    index.setRank(later, 6, index.rank(later, 6) - 1);
    const transplanted = later.slice();
    transplanted[0] = genome[0];
    transplanted[1] = genome[1];
    expect(replicateCandidates(noise, 0, later, index)).toEqual([transplanted]);

    const moved = later.slice();
    index.setRank(moved, 0, index.rank(moved, 0) - 1);
    index.setRank(moved, 7, index.rank(moved, 7) + 1);
    expect(replicateCandidates(noise, 0, moved, index)).toEqual([]);

    const scores = [0.5 + 0.2, 0];
    const updated = updateNoise(noise, { candidates: [transplanted, later], scores, reference: 1, slice: 0 }, [], [], Rng.fromSeed(1), false, index);
    expect(updated.replicates).toBe(1);
    // One replicate: its squared change over 4, scaled from χ²₁'s median to its mean.
    expect(updated.samples).toHaveLength(1);
    expect(updated.samples[0]).toBeCloseTo(0.2 ** 2 / 4, 12);
    expect(noiseVariance(updated)).toBeCloseTo(0.2 ** 2 / 4 / 0.454936, 12);
    expect(updated.pending).toBeNull();
  });
});

describe('the noise estimate', () => {
  it('is the median of the latest replicates: a disturbed one does not move it, and old ones leave the window', () => {
    const { index, reference, genome } = switchFromUniform();
    const pending = { genome, reference, delta: 0.5, slice: 0 };
    const replicate = (noise: NoiseEstimate, change: number) =>
      updateNoise({ ...noise, pending }, { candidates: [genome, reference], scores: [0.5 + change, 0], reference: 1, slice: 1 }, [], [], Rng.fromSeed(1), false, index);
    let noise = noNoiseYet();
    for (let i = 0; i < 10; i++) noise = replicate(noise, i % 2 ? 0.1 : -0.1);
    noise = replicate(noise, 50);
    expect(noise.replicates).toBe(11);
    expect(noiseVariance(noise)).toBeCloseTo(0.1 ** 2 / 4 / 0.454936, 12);
    for (let i = 0; i < REPLICATES_KEPT; i++) noise = replicate(noise, 0.3);
    expect(noise.samples).toHaveLength(REPLICATES_KEPT);
    expect(noiseVariance(noise)).toBeCloseTo(0.3 ** 2 / 4 / 0.454936, 12);
  });
});

describe('every search ends by validating its finalists on held-back slices', () => {
  it.each(['evopress', 'genetic', 'random'])('%s: the last asks are its finalists on each validation slice, and the winner is the best mean there', (type) => {
    const config = type === 'random' ? { type, samples: 600, batch: 50 } : { type, generations: 12 };
    const strategy = createStrategy(strategySchema.parse(config));
    const problem = new SyntheticProblem(space, { seed: 3, noise: 0.5, noiseShrinks: false });
    const ctx = { space: new SpaceIndex(space), seed: 7, slices: 4, validationSlices: 3 };
    const asks: Genome[][] = [];
    const scores = new Map<string, number>();
    const { state } = drive(strategy, ctx, 7, (g, budget, slice) => {
      const value = problem.evaluate(g, { budget, slice });
      scores.set(`${g.join(',')}|${slice}`, value);
      return value;
    }, { onAsk: (candidates) => asks.push(candidates) });
    const v = (state as ValidatedState<unknown>).validation!;
    expect(v.finalists.length).toBe(4);
    expect(v.scores).toHaveLength(3);
    // The validation slices were read by the validation asks only: the search kept to slices 0..3.
    const searchKeys = [...scores.keys()].filter((k) => Number(k.split('|')[1]) >= 4);
    expect(searchKeys).toHaveLength(4 * 3);
    const lastThree = asks.slice(-3).map((candidates) => candidates.map((g) => g.join(',')));
    for (const asked of lastThree) expect(asked).toEqual(v.finalists.map((f) => f.genome.join(',')));
    const mean = (g: Genome) => [4, 5, 6].reduce((sum, s) => sum + scores.get(`${g.join(',')}|${s}`)!, 0) / 3;
    const best = strategy.best(state)!;
    expect(best.validation!.slices).toBe(3);
    expect(best.validation!.score).toBeCloseTo(mean(best.genome), 12);
    for (const f of v.finalists) expect(mean(f.genome)).toBeGreaterThanOrEqual(best.validation!.score);
  });
});

/**
 * Runs `experiment` twice in fresh stores: straight through, and killed after `killAt` evaluations
 * then resumed. Returns both final checkpoints and the search state each run's store held at the kill.
 */
async function uninterruptedAndKilled(experiment: Experiment, problem: SyntheticProblem, killAt: number) {
  const results = [];
  const atKill: EvoPressState[] = [];
  for (const failAfter of [Infinity, killAt]) {
    const store = Store.open(join(tempDir(), 'runs.db'));
    try {
      createRun(store, 'r', experiment);
      store.acquireLock('r');
      const evaluator = syntheticEvaluator(problem, failAfter);
      await continueRun(store, 'r', experiment, evaluator).catch((e: Error) => expect(e.message).toBe('killed'));
      atKill.push((JSON.parse(store.getCheckpoint('r').strategyState) as ValidatedState<EvoPressState>).search);
      const outcome = await continueRun(store, 'r', experiment, evaluator);
      expect(outcome.status).toBe('finished');
      results.push(outcome.checkpoint);
    } finally {
      store.close();
    }
  }
  return { results, atKill };
}

/** An in-process evaluator of a synthetic problem that fails once after `failAfter` evaluations (a killed process). */
function syntheticEvaluator(problem: SyntheticProblem, failAfter = Infinity): Evaluator & { count: number } {
  return {
    count: 0,
    async evaluate(genomes: Genome[], fidelity: Fidelity, onChunk?: (offset: number, values: number[]) => void) {
      const values: number[] = [];
      for (const [i, g] of genomes.entries()) {
        if (this.count === failAfter) {
          failAfter = Infinity;
          throw new Error('killed');
        }
        this.count++;
        values.push(problem.evaluate(g, fidelity));
        onChunk?.(i, [values[i]]);
      }
      return values;
    },
    interrupt() {},
    async close() {},
  };
}

describe('stop.maxEvaluations is a cap', () => {
  const experiment = (maxEvaluations: number): Experiment => ({
    name: 'cap',
    seed: 2,
    space,
    strategy: strategySchema.parse({ type: 'evopress', generations: 1_000_000 }),
    fitness: syntheticFitnessSchema.parse({ type: 'synthetic', seed: 3, noise: 0.1, slices: 4, validationSlices: 2 }),
    stop: { maxEvaluations },
    source: 'test',
  });

  it.each([997, 1000, 1013])('a run of cap %i ends at exactly that many evaluations, validated, even when killed inside the trimmed step', async (cap) => {
    const problem = new SyntheticProblem(space, { seed: 3, noise: 0.1 });
    const results = [];
    for (const failAfter of [Infinity, cap - 3]) {
      const dir = tempDir();
      const store = Store.open(join(dir, 'runs.db'));
      try {
        createRun(store, 'r', experiment(cap));
        store.acquireLock('r');
        const evaluator = syntheticEvaluator(problem, failAfter);
        await continueRun(store, 'r', experiment(cap), evaluator).catch((e: Error) => expect(e.message).toBe('killed'));
        const outcome = await continueRun(store, 'r', experiment(cap), evaluator);
        expect(outcome.status).toBe('finished');
        expect(outcome.checkpoint.evaluations).toBe(cap);
        expect(evaluator.count).toBe(cap);
        results.push(outcome.checkpoint);
      } finally {
        store.close();
      }
    }
    // Killed or not, the run ends where the uninterrupted one ends.
    expect(results[1].bestGenome).toEqual(results[0].bestGenome);
    expect(results[1].strategyState).toBe(results[0].strategyState);
    const state = JSON.parse(results[0].strategyState) as ValidatedState<unknown>;
    expect(state.validation?.scores).toHaveLength(2);
  });
});

describe('the averaging model', () => {
  it('prices the levels next to the parent from wide perturbations under noise far above any single step', async () => {
    const { learnAveraged } = await import('../src/strategies/surrogate.js');
    const { perturbation } = await import('../src/strategies/operators.js');
    const { Rng } = await import('../src/rng/rng.js');
    const index = new SpaceIndex(space);
    const problem = new SyntheticProblem(space, { seed: 3 });
    const center = index.uniform()!;
    // Every level one rank from the centre: its true loss difference and cost difference.
    const neighbours = space.units.flatMap((_, u) =>
      [-1, 1].flatMap((d) => {
        const rank = index.rankOf[u][center[u]] + d;
        if (rank < 0 || rank >= index.levelCount(u)) return [];
        const level = index.byRank[u][rank];
        return [{ u, level, truth: problem.loss[u][level] - problem.loss[u][center[u]], cost: space.units[u].cost[level] - space.units[u].cost[center[u]] }];
      }),
    );
    const rms = (xs: number[]) => Math.sqrt(xs.reduce((a, b) => a + b * b, 0) / xs.length);
    const step = rms(neighbours.map((n) => n.truth));
    const sd = 10 * step;

    const rng = Rng.fromSeed(1);
    let model = space.units.map((u) => u.cost.map(() => 0 as number | null));
    let counts = space.units.map((u) => u.cost.map(() => 0));
    for (let request = 0; request < 400; request++) {
      const members = [...Array.from({ length: 32 }, () => perturbation(index, center, rng, 0.4)!), center];
      const scores = members.map((g) => problem.exact(g) + sd * rng.normal());
      ({ model, counts } = learnAveraged(model, counts, members, scores, members.length - 1, 10 * space.units.length));
    }
    const errors = neighbours.map((n) => model[n.u][n.level]! - model[n.u][center[n.u]]! - n.truth);
    // Under a budget, repairs tie raises to lowerings, so a price per unit of cost (λ·Δcost) is what
    // the model cannot tell from the losses; it changes no comparison between configurations of equal cost.
    const lambda = errors.reduce((sum, e, i) => sum + e * neighbours[i].cost, 0) / neighbours.reduce((sum, n) => sum + n.cost ** 2, 0);
    const tradeOffErrors = errors.map((e, i) => e - lambda * neighbours[i].cost);
    expect(rms(tradeOffErrors)).toBeLessThan(step / 2);
  });
});

describe('every strategy keeps to the cap with its validation inside it', () => {
  it.each([
    ['evopress', { type: 'evopress', generations: 1_000_000 }],
    ['genetic', { type: 'genetic', generations: 1_000_000 }],
    ['random', { type: 'random', samples: 1_000_000 }],
  ])('%s', (_, config) => {
    const strategy = createStrategy(strategySchema.parse(config));
    const problem = new SyntheticProblem(space, { seed: 3, noise: 0.2 });
    for (const cap of [50, 333, 1000]) {
      const { state, evaluations } = drive(strategy, { space: new SpaceIndex(space), seed: 1, slices: 4, validationSlices: 3 }, 1, (g, budget, slice) => problem.evaluate(g, { budget, slice }), { maxEvaluations: cap });
      // At most the cap; less only by validation evaluations reserved for finalists the search did not have.
      expect(evaluations).toBeLessThanOrEqual(cap);
      expect(evaluations).toBeGreaterThan(cap - 4 * 3);
      expect((state as ValidatedState<unknown>).validation?.scores).toHaveLength(3);
      expect(strategy.best(state)?.validation?.slices).toBe(3);
    }
  });
});

describe('the pair model (modelLed: pairs, the default)', () => {
  it('fits a chain problem exactly within two ranks, and its optimum is the exact optimum there', async () => {
    const { fitPairModel, pairModelOptimum, phaseRequest, pairUnknowns } = await import('../src/strategies/pair-model.js');
    const small = syntheticSpace({ family: 'equalStep', units: 12, levels: 6, seed: 4, budgetFraction: 0.5 });
    const index = new SpaceIndex(small);
    const problem = new SyntheticProblem(small, { seed: 4, propagation: 'chain', strength: 1.5 });
    const center = index.uniform()!;
    const requests = Array.from({ length: 30 }, (_, k) => {
      const members = phaseRequest(index, center, 9, 0, k, 32);
      // A constant per request, as a calibration slice adds to every member: the fit must not mind it.
      return { members, scores: members.map((g) => problem.exact(g) + 0.3 * k) };
    });
    expect(requests.reduce((n, r) => n + r.members.length, 0)).toBeGreaterThan(2 * pairUnknowns(12));
    const model = fitPairModel(index, center, requests, 1e-9);
    const optimum = pairModelOptimum(index, model, center)!;
    expect(problem.gapObjective(optimum)).toBeCloseTo(problem.optimum({ center, radius: 2 }).value, 6);
    expect(optimum.every((level, u) => Math.abs(index.rankOf[u][level] - index.rankOf[u][center[u]]) <= 2)).toBe(true);
  });

  it('weighs noise against what moving one unit changes, and under constant noise hands over to the averaging mode after its first phase', async () => {
    const { noiseToSignal, phaseRequest } = await import('../src/strategies/pair-model.js');
    const index = new SpaceIndex(space);
    const problem = new SyntheticProblem(space, { seed: 3, propagation: 'chain' });
    const center = index.uniform()!;
    const rng = Rng.fromSeed('noise-to-signal');
    const gaussian = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    const requests = Array.from({ length: 40 }, (_, k) => phaseRequest(index, center, 9, 0, k, 32)).map((members) => ({ members, exact: members.map((g) => problem.exact(g)) }));
    // What one moved unit adds to the variance between perturbations, from the exact scores.
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const movedPerPerturbation = mean(requests.flatMap((r) => r.members.slice(0, -1).map((g) => g.filter((level, u) => level !== center[u]).length)));
    const perUnit = mean(requests.map((r) => sampleVariance(r.exact.slice(0, -1)))) / movedPerPerturbation;
    for (const sd of [0.05, 0.2, 0.8].map((f) => f * Math.sqrt(perUnit))) {
      const noisy = requests.map((r) => ({ members: r.members, scores: r.exact.map((x) => x + sd * gaussian()) }));
      const relative = noiseToSignal(center, noisy, sd * sd) / ((sd * sd) / perUnit);
      expect(relative).toBeGreaterThan(0.8);
      expect(relative).toBeLessThan(1.25);
    }
    expect(noiseToSignal(center, requests.map((r) => ({ members: r.members, scores: r.exact })), 0)).toBe(0);

    // Noise of 10% of the uniform configuration's loss, not shrinking: the first phase's ratio is
    // above the hand-over. Killed inside that phase and resumed, the run crosses the hand-over as
    // the uninterrupted one does.
    const problemSpec = { seed: 3, propagation: 'chain' as const, noise: 0.1, noiseScale: 'uniformLoss' as const, noiseShrinks: false };
    const experiment: Experiment = {
      name: 'hand-over',
      seed: 7,
      space,
      strategy: strategySchema.parse({ type: 'evopress', generations: 1_000_000 }),
      fitness: syntheticFitnessSchema.parse({ type: 'synthetic', ...problemSpec, slices: 16, validationSlices: 4 }),
      stop: { maxEvaluations: 3000 },
      source: 'test',
    };
    const { results, atKill } = await uninterruptedAndKilled(experiment, new SyntheticProblem(space, problemSpec), 700);
    expect(atKill[1].mode).toBe('pairs');
    expect(atKill[1].phase!.index).toBe(0);
    const final = (JSON.parse(results[0].strategyState) as ValidatedState<EvoPressState>).search;
    expect(final.mode).toBe('model');
    expect(final.phase).toBeNull();
    expect(final.counts.length).toBe(space.units.length);
    expect(results[1].strategyState).toBe(results[0].strategyState);
    expect(results[1].bestGenome).toEqual(results[0].bestGenome);
  });

  it('reaches closer than the averaging mode with noise that shrinks with the budget, and resumes exactly mid-phase', async () => {
    const stages = [{ survivors: 4, budget: 4 }, { survivors: 1, budget: 64 }];
    const problemSpec = { seed: 3, propagation: 'chain' as const, noise: 0.05, noiseScale: 'uniformLoss' as const, noiseShrinks: true };
    const problem = new SyntheticProblem(space, problemSpec);
    const optimum = problem.optimum().value;
    const gapOf = (config: object) => {
      const strategy = createStrategy(strategySchema.parse({ type: 'evopress', generations: 1_000_000, selection: stages, ...config }));
      const { state } = drive(strategy, { space: new SpaceIndex(space), seed: 5, slices: 16, validationSlices: 4 }, 5, (g, budget, slice) => problem.evaluate(g, { budget, slice }), { maxEvaluations: 12_000 });
      const search = (state as ValidatedState<EvoPressState>).search;
      return { gap: (problem.exact(strategy.best(state)!.genome) - optimum) / optimum, search };
    };
    const pairs = gapOf({});
    const averaging = gapOf({ modelLed: 'averaging' });
    expect(pairs.search.mode).toBe('pairs');
    expect(pairs.search.phase!.index).toBeGreaterThan(1);
    expect(averaging.search.mode).toBe('model');
    expect(pairs.gap).toBeLessThan(averaging.gap);

    const experiment: Experiment = {
      name: 'pairs',
      seed: 5,
      space,
      strategy: strategySchema.parse({ type: 'evopress', generations: 1_000_000, selection: stages, modelLed: 'pairs' }),
      fitness: syntheticFitnessSchema.parse({ type: 'synthetic', ...problemSpec, slices: 16, validationSlices: 4 }),
      stop: { maxEvaluations: 8000 },
      source: 'test',
    };
    const { results, atKill } = await uninterruptedAndKilled(experiment, problem, 6011);
    // The kill came inside a phase: the pair model was running and had measured part of it.
    expect(atKill[1].mode).toBe('pairs');
    expect(atKill[1].phase!.scores.length).toBeGreaterThan(0);
    expect((JSON.parse(results[0].strategyState) as ValidatedState<EvoPressState>).search.mode).toBe('pairs');
    expect(results[1].strategyState).toBe(results[0].strategyState);
    expect(results[1].bestGenome).toEqual(results[0].bestGenome);
  });
});
