import { z } from 'zod';
import { genomeKey, type Fidelity, type Genome, type SpaceIndex } from '../space/space.js';
import { positiveInt } from '../validation.js';
import type { Rng } from '../rng/rng.js';
import type { Search, Best } from './types.js';
import { levelSwitch, rankByScore } from './operators.js';
import { sliceFor } from './slices.js';
import { distinctBests, finalistsField, remember } from './validation.js';
import { difference, emptyModel, learnDifference, modelOptimum, predictDifference, type AdditiveModel, type Difference } from './surrogate.js';
import { enterModelLed, modelLedAsk, tellModelLed } from './model-led.js';
import { noNoiseYet, noiseSwampsSwitches, replicateCandidates, replicateNow, updateNoise, type NoiseEstimate } from './noise.js';
import { enterPairs, pairsAsk, tellPairs, type PairPhase } from './pair-model.js';

const stageSchema = z.strictObject({ survivors: positiveInt, budget: z.number().positive() });

export const evopressSchema = z.strictObject({
  type: z.literal('evopress'),
  generations: positiveInt,
  /** λ: offspring per generation. */
  offspring: positiveInt.default(16),
  /** Racing stages: evaluate at `budget`, keep `survivors`; the parent joins the last stage. */
  selection: z.array(stageSchema).min(1).default([{ survivors: 1, budget: 1 }]),
  /** Largest number of ranks one switch moves a unit. */
  maxJump: positiveInt.default(16),
  /**
   * Surrogate screening: this many mutations are drawn per offspring slot and half of the
   * offspring are the ones an additive model of the scores ranks best (the other half stay random,
   * so the model keeps learning everywhere); 0 or 1 disables the model.
   */
  screening: z.number().int().min(0).default(16),
  /** How many recent score differences the model replays each step. */
  memory: z.number().int().min(0).default(2048),
  /**
   * Every this many generations one offspring is the model's optimum within the trust radius of
   * the parent (ranks per unit); 0 never. The radius starts at `trustRadius`, doubles when a
   * proposal becomes the parent and halves (down to 1) when it does not, as in trust-region methods.
   */
  proposalEvery: z.number().int().min(0).default(1),
  trustRadius: z.number().int().min(0).default(3),
  /**
   * The model-led mode, once noise swamps what a switch changes. `averaging`: wide one-rank
   * perturbations feed an averaging model and the parent moves a rank at a time (see model-led.ts).
   * `pairs`: phases at a fixed parent fit a least-squares model with terms for consecutive units
   * and move up to two ranks (see pair-model.ts); where the first phase finds a measurement's noise
   * too large against what moving one unit changes, the averaging mode takes over.
   */
  modelLed: z.enum(['averaging', 'pairs']).default('pairs'),
  ...finalistsField,
});

export type EvoPressConfig = z.infer<typeof evopressSchema>;

export interface EvoPressState {
  generation: number;
  parent: Genome;
  parentScore: number | null;
  stage: number;
  /** Candidates racing in the current stage (the parent is appended in the last stage). */
  racing: Genome[];
  /** Additive model learnt from score differences; null when disabled. */
  model: AdditiveModel | null;
  /** The most recent score differences, replayed into the model each step. */
  memory: Difference[];
  /**
   * `select`: the parent is the best measured of it and its offspring (EvoPress). `model`: once
   * replicates show that noise swamps what a switch changes, wide perturbations feed the model
   * and the parent moves to the model's optimum nearby (`modelLed: 'averaging'`, or where the pair
   * model handed over). `pairs`: the same moment with `modelLed: 'pairs'`; phases of perturbations
   * fit a model with pair terms (pair-model.ts).
   */
  mode: 'select' | 'model' | 'pairs';
  noise: NoiseEstimate;
  /** Per level, how many measurements the model-led averaging has used (capped); empty in `select` mode. */
  counts: number[][];
  /** The request's candidates between `racing` and the parent: replicates, measured for the noise estimate only. */
  extras: Genome[];
  /** Earlier parents with their last scores, the most recent first: the finalists after the incumbent. */
  recent: Best[];
  /** Ranks per unit within which the model's proposals are made (see `proposalEvery`). */
  radius: number;
  /** This generation's proposal, while it races; null when there is none. */
  proposal: Genome | null;
  /** The running phase in `pairs` mode; null in other modes. */
  phase: PairPhase | null;
}

/**
 * λ distinct offspring of the parent by level switches. With a model, `screening`·λ mutations are
 * drawn, the best-predicted half of λ is taken from them and the rest are the first unpicked
 * draws (random). A neighbourhood smaller than λ yields fewer offspring, never an endless loop.
 */
function offspring(state: EvoPressState, space: SpaceIndex, rng: Rng, config: EvoPressConfig): { children: Genome[]; proposal: Genome | null } {
  const pool: Genome[] = [];
  const seen = new Set([genomeKey(state.parent)]);
  const want = state.model ? config.offspring * config.screening : config.offspring;
  for (let attempt = 0; pool.length < want && attempt < 20 * want; attempt++) {
    const child = levelSwitch(space, state.parent, rng, config.maxJump);
    if (!child) continue;
    const k = genomeKey(child);
    if (seen.has(k)) continue;
    seen.add(k);
    pool.push(child);
  }
  if (!state.model || pool.length <= config.offspring) return { children: pool.slice(0, config.offspring), proposal: null };
  let proposal: Genome | null = null;
  if (config.proposalEvery > 0 && state.generation % config.proposalEvery === 0) {
    const optimum = widestNeededProposal(space, state.model, state.parent, state.radius);
    if (optimum && space.fits(space.cost(optimum)) && !seen.has(genomeKey(optimum))) pool[0] = proposal = optimum;
  }
  const model = state.model;
  const predicted = pool.map((g) => predictDifference(model, g, state.parent) ?? Infinity);
  const byPrediction = rankByScore(predicted);
  const picked = new Set(byPrediction.slice(0, Math.ceil(config.offspring / 2)).filter((i) => predicted[i] < Infinity));
  for (let i = 0; picked.size < config.offspring && i < pool.length; i++) picked.add(i);
  return { children: [...picked].sort((a, b) => a - b).map((i) => pool[i]), proposal };
}

/**
 * The trust radius after a generation: doubled (up to the widest unit) when the proposal became
 * the parent, halved (down to 1) when it lost; unchanged without a proposal.
 */
function nextRadius(state: EvoPressState, parent: Genome, space: SpaceIndex): number {
  if (!state.proposal) return state.radius;
  if (genomeKey(parent) === genomeKey(state.proposal)) return Math.min(widestUnit(space), 2 * state.radius);
  return Math.max(1, Math.floor(state.radius / 2));
}

const widestUnit = (space: SpaceIndex) => Math.max(...space.byRank.map((ranks) => ranks.length - 1));

/**
 * The model's optimum within `radius` ranks of the parent; when that is the parent itself (the
 * model sees nothing better nearby: a local optimum of the level switches), within twice the
 * radius, and so on up to the whole space, so that the search leaves it.
 */
function widestNeededProposal(space: SpaceIndex, model: AdditiveModel, parent: Genome, radius: number): Genome | null {
  const widest = widestUnit(space);
  for (let r = radius; ; r = Math.max(1, 2 * r)) {
    const proposal = modelOptimum(space, model, parent, r);
    if (!proposal || genomeKey(proposal) !== genomeKey(parent) || r >= widest) return proposal;
  }
}

/**
 * Each candidate's score difference to the stage's last candidate (the parent in the last stage)
 * joins a bounded memory of differences, and the model takes one pass over that memory: replaying
 * recent equations keeps the model consistent with all of them, not only with the newest.
 */
function learn(state: EvoPressState, candidates: Genome[], scores: number[], memorySize: number): Pick<EvoPressState, 'model' | 'memory'> {
  if (!state.model) return { model: null, memory: [] };
  const ref = candidates.length - 1;
  const fresh = candidates.slice(0, ref).flatMap((g, i) => (Number.isFinite(scores[i]) && Number.isFinite(scores[ref]) ? [difference(g, candidates[ref], scores[i] - scores[ref])] : []));
  const memory = [...state.memory, ...fresh].slice(-memorySize);
  const model = state.model.map((row) => row.slice());
  for (const d of memory) learnDifference(model, d, 1);
  return { model, memory };
}

/**
 * The (1+λ) evolutionary algorithm of EvoPress with multi-step racing selection. Each stage is one
 * ask, so a generation with k stages is k asks at growing fidelity. Offspring that tie the parent
 * replace it: on plateaus of equal fitness this lets the search drift instead of stalling. Every
 * other generation a replicate measures the fitness's noise; once it swamps what a switch changes,
 * the search goes model-led for good (see pair-model.ts, and model-led.ts for the averaging mode).
 */
export function evopress(config: EvoPressConfig): Search<EvoPressState> {
  const lastStage = config.selection.length - 1;
  return {
    type: 'evopress',

    init(ctx) {
      const parent = ctx.space.start();
      if (!parent) throw new Error('evopress: no feasible starting configuration');
      return {
        generation: 0,
        parent,
        parentScore: null,
        stage: 0,
        racing: [],
        model: config.screening > 1 ? emptyModel(ctx.space, parent) : null,
        memory: [],
        mode: 'select',
        noise: noNoiseYet(),
        counts: [],
        extras: [],
        recent: [],
        radius: config.trustRadius,
        proposal: null,
        phase: null,
      };
    },

    ask(state, ctx, rng, left = Infinity) {
      if (state.generation >= config.generations) return null;
      if (state.mode === 'model') return modelLedAsk(state, ctx, rng, config.selection[lastStage].budget, config.offspring);
      if (state.mode === 'pairs') return pairsAsk(state, ctx, config.selection[lastStage].budget, config.offspring, left);
      let { racing, proposal } = state;
      if (state.stage === 0) ({ children: racing, proposal } = offspring(state, ctx.space, rng, config));
      const stage = config.selection[state.stage];
      const fidelity: Fidelity = {
        budget: stage.budget,
        slice: sliceFor(ctx.seed, state.generation, state.stage, ctx.slices),
      };
      if (state.stage < lastStage) return { state: { ...state, racing, proposal, extras: [] }, ask: { candidates: racing, fidelity } };
      const extras = replicateCandidates(state.noise, fidelity.slice, state.parent, ctx.space);
      return { state: { ...state, racing, proposal, extras }, ask: { candidates: [...racing, ...extras, state.parent], fidelity } };
    },

    tell(state, scores, ctx, rng) {
      if (state.mode === 'model') return tellModelLed(state, scores, ctx.space, ctx.seed, ctx.slices, rng, config.finalists);
      if (state.mode === 'pairs') return tellPairs(state, scores, ctx, config.offspring);
      if (state.stage < lastStage) {
        state = { ...state, ...learn(state, state.racing, scores, config.memory) };
        const order = rankByScore(scores);
        const keep = order.slice(0, config.selection[state.stage].survivors);
        // Survivors keep their original relative order, so the next stage's candidate order is stable.
        keep.sort((a, b) => a - b);
        return { ...state, stage: state.stage + 1, racing: keep.map((i) => state.racing[i]) };
      }
      const candidates = [...state.racing, ...state.extras, state.parent];
      const parentAt = candidates.length - 1;
      state = { ...state, ...learn(state, candidates, scores, config.memory) };
      const contenders = state.racing.map((_, i) => i);
      const noise = updateNoise(state.noise, { candidates, scores, reference: parentAt, slice: sliceFor(ctx.seed, state.generation, state.stage, ctx.slices) }, contenders, contenders, rng, replicateNow(state.generation), ctx.space);
      let parent = state.parent;
      let best = scores[parentAt];
      // A parent the evaluation cap left unmeasured stays, with the score it had.
      if (Number.isFinite(best)) {
        for (let i = 0; i < state.racing.length; i++) {
          if (scores[i] < best || (scores[i] === best && parent === state.parent)) {
            best = scores[i];
            parent = state.racing[i];
          }
        }
      } else best = state.parentScore ?? Infinity;
      const next: EvoPressState = { ...state, generation: state.generation + 1, parent, parentScore: best, stage: 0, racing: [], noise, extras: [], radius: nextRadius(state, parent, ctx.space), proposal: null, recent: remember(state.recent, { genome: state.parent, score: state.parentScore }, parent, config.finalists) };
      // Model-led moves go to an additive model's optimum under an additive budget: architecture spaces stay selecting.
      if (!state.model || !ctx.space.additive || !noiseSwampsSwitches(noise, ctx.slices)) return next;
      return config.modelLed === 'pairs' ? enterPairs(next) : enterModelLed(next, ctx.space);
    },

    best(state): Best | null {
      return state.parentScore === null ? null : { genome: state.parent, score: state.parentScore };
    },

    finalists(state, count) {
      const incumbent = state.parentScore === null ? [] : [{ genome: state.parent, score: state.parentScore }];
      return distinctBests([...incumbent, ...state.recent], count);
    },

    progress(state) {
      return { generation: state.generation, generations: config.generations };
    },
  };
}
