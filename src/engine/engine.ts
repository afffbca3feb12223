import { Rng, type RngState } from '../rng/rng.js';
import { SpaceIndex, genomeHash, type Genome } from '../space/space.js';
import type { Experiment } from './experiment.js';
import { createStrategy } from '../strategies/index.js';
import { UNSCORED, type Strategy, type StrategyContext } from '../strategies/types.js';
import { evaluationsAllowed } from './cap.js';
import type { Store, Checkpoint } from '../store/store.js';
import type { Evaluator } from '../pool/evaluator.js';
import { VERSION } from '../version.js';
import { budgetIsTrainingSteps } from '../fitness/types.js';

export interface Progress {
  step: number;
  generation: number;
  generations: number;
  evaluations: number;
  bestFitness: number | null;
  /** Fitness evaluations computed in this session (not cache hits), for a rate. */
  computed: number;
}

export interface RunHooks {
  onProgress?(p: Progress): void;
  /** Checked after every step: when it returns true the run stops cleanly, resumable. */
  shouldStop?(): boolean;
}

export interface RunOutcome {
  status: 'finished' | 'interrupted';
  checkpoint: Checkpoint;
}

/** Everything a run needs that is derived from its stored experiment. */
export function prepare(experiment: Experiment): { strategy: Strategy; ctx: StrategyContext } {
  return {
    strategy: createStrategy(experiment.strategy, budgetIsTrainingSteps(experiment.fitness)),
    ctx: { space: new SpaceIndex(experiment.space), seed: experiment.seed, slices: experiment.fitness.slices, validationSlices: experiment.fitness.validationSlices },
  };
}

/** Creates a run and its step-0 checkpoint in one transaction. */
export function createRun(store: Store, runId: string, experiment: Experiment): void {
  const { strategy, ctx } = prepare(experiment);
  const rng = Rng.fromSeed(experiment.seed);
  const state = strategy.init(ctx, rng);
  store.createRun(
    { id: runId, name: experiment.name, strategy: strategy.type, experiment: JSON.stringify(experiment), seed: experiment.seed, version: VERSION },
    {
      step: 0,
      generation: 0,
      strategyState: JSON.stringify(state),
      rngState: JSON.stringify(rng.state()),
      evaluations: 0,
      bestGenome: null,
      bestFitness: null,
      wallMs: 0,
    },
  );
}

/**
 * The run loop: ask → cache → evaluate misses → tell (in candidate order) → commit, from the last
 * checkpoint until the strategy is done. Restarting it from any checkpoint replays the exact same
 * asks, because strategy state and RNG state are restored together; evaluations a killed process
 * finished after that checkpoint come back from the cache and still count as this step's.
 */
export async function continueRun(store: Store, runId: string, experiment: Experiment, evaluator: Evaluator, hooks: RunHooks = {}): Promise<RunOutcome> {
  const { strategy, ctx } = prepare(experiment);
  const sign = experiment.fitness.minimize ? 1 : -1;
  let checkpoint = store.getCheckpoint(runId);
  let state: unknown = JSON.parse(checkpoint.strategyState);
  const rng = Rng.fromState(JSON.parse(checkpoint.rngState) as RngState);
  const started = Date.now();
  const wallAtStart = checkpoint.wallMs;
  let computed = 0;
  const maxEvaluations = experiment.stop.maxEvaluations ?? Infinity;

  const report = () =>
    hooks.onProgress?.({
      step: checkpoint.step,
      generation: checkpoint.generation,
      generations: strategy.progress(state).generations,
      evaluations: checkpoint.evaluations,
      bestFitness: checkpoint.bestFitness,
      computed,
    });
  report();

  while (checkpoint.evaluations < maxEvaluations) {
    const left = maxEvaluations - checkpoint.evaluations;
    const next = strategy.ask(state, ctx, rng, left);
    if (!next) break;
    const { candidates, fidelity } = next.ask;
    for (const c of next.ask.probe ? [] : candidates) {
      if (!ctx.space.isFeasible(c)) {
        throw new Error(`bug: strategy ${strategy.type} emitted a candidate outside the budget (cost ${ctx.space.cost(c)}): [${c.join(',')}]`);
      }
    }
    const step = checkpoint.step + 1;

    // Each distinct genome is looked up once; misses go to the evaluator.
    const raw = new Array<number>(candidates.length);
    const firstIndex = new Map<string, number>();
    const hashes = candidates.map(genomeHash);
    const missIndex: number[] = [];
    let fresh = 0;
    hashes.forEach((hash, i) => {
      if (firstIndex.has(hash)) return;
      firstIndex.set(hash, i);
      const hit = store.cachedEvaluation(runId, hash, fidelity.budget, fidelity.slice);
      if (!hit) return missIndex.push(i);
      raw[i] = hit.fitness;
      if (hit.step === step) fresh++; // computed by this very step before an interruption
    });
    // Past the cap the rest stays unevaluated; this step's evaluations from before an interruption count against it.
    const unscored = missIndex.splice(Math.max(0, evaluationsAllowed(left, next.ask.reserve) - fresh));
    const misses: Genome[] = missIndex.map((i) => candidates[i]);
    const values = await evaluator.evaluate(misses, fidelity, (offset, chunk) =>
      store.insertEvaluations(
        runId,
        step,
        fidelity.budget,
        fidelity.slice,
        chunk.map((fitness, k) => ({ hash: hashes[missIndex[offset + k]], genome: misses[offset + k], fitness })),
      ),
    );
    missIndex.forEach((i, k) => (raw[i] = values[k]));
    for (const i of unscored) raw[i] = sign * UNSCORED;
    hashes.forEach((hash, i) => (raw[i] = raw[firstIndex.get(hash)!]));
    computed += misses.length;

    state = strategy.tell(next.state, raw.map((v) => sign * v), ctx, rng);
    const best = strategy.best(state);
    if (best && !ctx.space.isFeasible(best.genome)) throw new Error(`bug: strategy ${strategy.type} made a configuration outside the budget its best: [${best.genome.join(',')}]`);
    checkpoint = {
      step,
      generation: strategy.progress(state).generation,
      strategyState: JSON.stringify(state),
      rngState: JSON.stringify(rng.state()),
      evaluations: checkpoint.evaluations + fresh + misses.length,
      bestGenome: best ? best.genome : null,
      bestFitness: best ? sign * best.score : null,
      wallMs: wallAtStart + (Date.now() - started),
    };
    store.commitStep(runId, checkpoint);
    report();
    if (hooks.shouldStop?.()) return { status: 'interrupted', checkpoint };
  }
  return { status: 'finished', checkpoint };
}
