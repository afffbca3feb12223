import { genomeKey, type Genome, type SpaceIndex } from '../space/space.js';
import type { Rng } from '../rng/rng.js';
import type { Ask, StrategyContext } from './types.js';
import type { EvoPressState } from './evopress.js';
import { perturbation } from './operators.js';
import { sliceFor } from './slices.js';
import { learnAveraged, modelOptimum } from './surrogate.js';
import { replicateCandidates, replicateNow, updateNoise } from './noise.js';
import { remember } from './validation.js';

/**
 * EvoPress's model-led mode, for a fitness whose noise swamps what one level switch changes:
 * no comparison of two measurements tells better from worse there, so information is pooled.
 * Each generation measures `perturbationsPerOffspring`·λ wide perturbations of the parent (`spread`:
 * each unit's chance to move one rank up, and down); an averaging model learns from them (a level's
 * count of measurements stops at `horizonPerUnit` per unit of the space); every `moveEvery`
 * generations the parent moves to the model's optimum within `radius` ranks.
 */
const MODEL_LED = { perturbationsPerOffspring: 2, spread: 0.4, moveEvery: 4, radius: 1, horizonPerUnit: 10 };

/** The state on entering the mode: the exact-fitting model of the selection mode has fitted noise, so it starts afresh. */
export function enterModelLed(state: EvoPressState, space: SpaceIndex): EvoPressState {
  const zeros = () => space.space.units.map((u) => u.cost.map(() => 0));
  return { ...state, mode: 'model', model: zeros(), counts: zeros(), memory: [] };
}

/** One generation's request: the perturbations, the replicates, and the parent, at the deciding stage's budget. */
export function modelLedAsk(state: EvoPressState, ctx: StrategyContext, rng: Rng, budget: number, offspring: number): { state: EvoPressState; ask: Ask } {
  const slice = sliceFor(ctx.seed, state.generation, 0, ctx.slices);
  const racing = perturbations(state, ctx.space, rng, offspring);
  const extras = replicateCandidates(state.noise, slice, state.parent, ctx.space);
  return { state: { ...state, racing, extras }, ask: { candidates: [...racing, ...extras, state.parent], fidelity: { budget, slice } } };
}

/** Wide perturbations of the parent for the model-led mode: distinct, and never the parent itself. */
function perturbations(state: EvoPressState, space: SpaceIndex, rng: Rng, offspring: number): Genome[] {
  const want = MODEL_LED.perturbationsPerOffspring * offspring;
  const seen = new Set([genomeKey(state.parent)]);
  const children: Genome[] = [];
  for (let attempt = 0; children.length < want && attempt < 20 * want; attempt++) {
    const child = perturbation(space, state.parent, rng, MODEL_LED.spread);
    if (!child || seen.has(genomeKey(child))) continue;
    seen.add(genomeKey(child));
    children.push(child);
  }
  return children;
}

/**
 * Every measurement of the request (perturbations, replicates, parent) feeds the averaging model;
 * every few generations the parent moves to the model's optimum within one rank of where it is,
 * where the perturbations measured the model. The parent's score is its last measurement.
 */
export function tellModelLed(state: EvoPressState, scores: number[], space: SpaceIndex, seed: number, slices: number, rng: Rng, finalists: number): EvoPressState {
  const candidates = [...state.racing, ...state.extras, state.parent];
  const parentAt = candidates.length - 1;
  const learnt = Number.isFinite(scores[parentAt]) ? learnAveraged(state.model!, state.counts, candidates, scores, parentAt, MODEL_LED.horizonPerUnit * space.size) : { model: state.model!, counts: state.counts };
  const perturbed = state.racing.map((_, i) => i);
  const noise = updateNoise(state.noise, { candidates, scores, reference: parentAt, slice: sliceFor(seed, state.generation, 0, slices) }, [], perturbed, rng, replicateNow(state.generation), space);
  const generation = state.generation + 1;
  let parent = state.parent;
  if (generation % MODEL_LED.moveEvery === 0) {
    const proposal = modelOptimum(space, learnt.model, state.parent, MODEL_LED.radius);
    if (proposal && space.isFeasible(proposal)) parent = proposal;
  }
  const parentScore = parent === state.parent && Number.isFinite(scores[parentAt]) ? scores[parentAt] : state.parentScore;
  return { ...state, ...learnt, noise, generation, parent, parentScore, racing: [], extras: [], recent: remember(state.recent, { genome: state.parent, score: state.parentScore }, parent, finalists) };
}
