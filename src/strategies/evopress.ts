import { z } from 'zod';
import { genomeKey, type Fidelity, type Genome, type SpaceIndex } from '../space/space.js';
import { positiveInt } from '../validation.js';
import type { Rng } from '../rng/rng.js';
import type { Strategy, Best } from './types.js';
import { levelSwitch, rankByScore } from './operators.js';
import { sliceFor } from './slices.js';
import { difference, emptyModel, learnDifference, modelOptimum, predictDifference, type AdditiveModel, type Difference } from './surrogate.js';

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
  memory: z.number().int().min(0).default(512),
  /** Every this many generations one offspring is the model's optimum within `trustRadius` ranks of the parent; 0 never. */
  proposalEvery: z.number().int().min(0).default(10),
  trustRadius: z.number().int().min(0).default(3),
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
}

/**
 * λ distinct offspring of the parent by level switches. With a model, `screening`·λ mutations are
 * drawn, the best-predicted half of λ is taken from them and the rest are the first unpicked
 * draws (random). A neighbourhood smaller than λ yields fewer offspring, never an endless loop.
 */
function offspring(state: EvoPressState, space: SpaceIndex, rng: Rng, config: EvoPressConfig): Genome[] {
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
  if (!state.model || pool.length <= config.offspring) return pool.slice(0, config.offspring);
  if (config.proposalEvery > 0 && state.generation % config.proposalEvery === 0) {
    const proposal = modelOptimum(space, state.model, state.parent, config.trustRadius);
    if (proposal && space.fits(space.cost(proposal)) && !seen.has(genomeKey(proposal))) pool[0] = proposal;
  }
  const model = state.model;
  const predicted = pool.map((g) => predictDifference(model, g, state.parent) ?? Infinity);
  const byPrediction = rankByScore(predicted);
  const picked = new Set(byPrediction.slice(0, Math.ceil(config.offspring / 2)).filter((i) => predicted[i] < Infinity));
  for (let i = 0; picked.size < config.offspring && i < pool.length; i++) picked.add(i);
  return [...picked].sort((a, b) => a - b).map((i) => pool[i]);
}

/**
 * Each candidate's score difference to the stage's last candidate (the parent in the last stage)
 * joins a bounded memory of differences, and the model takes one pass over that memory: replaying
 * recent equations keeps the model consistent with all of them, not only with the newest.
 */
function learn(state: EvoPressState, candidates: Genome[], scores: number[], memorySize: number): Pick<EvoPressState, 'model' | 'memory'> {
  if (!state.model) return { model: null, memory: [] };
  const ref = candidates.length - 1;
  const fresh = candidates.slice(0, ref).map((g, i) => difference(g, candidates[ref], scores[i] - scores[ref]));
  const memory = [...state.memory, ...fresh].slice(-memorySize);
  const model = state.model.map((row) => row.slice());
  for (const d of memory) learnDifference(model, d, 1);
  return { model, memory };
}

/**
 * The (1+λ) evolutionary algorithm of EvoPress with multi-step racing selection. Each stage is one
 * ask, so a generation with k stages is k asks at growing fidelity. Offspring that tie the parent
 * replace it: on plateaus of equal fitness this lets the search drift instead of stalling.
 */
export function evopress(config: EvoPressConfig): Strategy<EvoPressState> {
  const lastStage = config.selection.length - 1;
  return {
    type: 'evopress',

    init(ctx) {
      const parent = ctx.space.uniform();
      if (!parent) throw new Error('evopress: no feasible starting configuration');
      return { generation: 0, parent, parentScore: null, stage: 0, racing: [], model: config.screening > 1 ? emptyModel(ctx.space, parent) : null, memory: [] };
    },

    ask(state, ctx, rng) {
      if (state.generation >= config.generations) return null;
      let racing = state.racing;
      if (state.stage === 0) {
        racing = offspring(state, ctx.space, rng, config);
      }
      const stage = config.selection[state.stage];
      const fidelity: Fidelity = {
        budget: stage.budget,
        slice: sliceFor(ctx.seed, state.generation, state.stage, ctx.slices),
      };
      const candidates = state.stage === lastStage ? [...racing, state.parent] : racing;
      return { state: { ...state, racing }, ask: { candidates, fidelity } };
    },

    tell(state, scores) {
      const candidates = state.stage === lastStage ? [...state.racing, state.parent] : state.racing;
      state = { ...state, ...learn(state, candidates, scores, config.memory) };
      if (state.stage < lastStage) {
        const order = rankByScore(scores);
        const keep = order.slice(0, config.selection[state.stage].survivors);
        // Survivors keep their original relative order, so the next stage's candidate order is stable.
        keep.sort((a, b) => a - b);
        return { ...state, stage: state.stage + 1, racing: keep.map((i) => state.racing[i]) };
      }
      const parentScore = scores[scores.length - 1];
      let parent = state.parent;
      let best = parentScore;
      for (let i = 0; i < state.racing.length; i++) {
        if (scores[i] < best || (scores[i] === best && parent === state.parent)) {
          best = scores[i];
          parent = state.racing[i];
        }
      }
      return { ...state, generation: state.generation + 1, parent, parentScore: best, stage: 0, racing: [] };
    },

    best(state): Best | null {
      return state.parentScore === null ? null : { genome: state.parent, score: state.parentScore };
    },

    progress(state) {
      return { generation: state.generation, generations: config.generations };
    },
  };
}
