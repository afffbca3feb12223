import type { Genome } from '../space/space.js';
import type { Strategy, Best, Fidelity } from './types.js';
import { levelSwitch, rankByScore } from './operators.js';
import { sliceFor } from './slices.js';

export interface EvoPressConfig {
  generations: number;
  /** λ: offspring per generation. */
  offspring: number;
  /** Racing stages: evaluate at `budget`, keep `survivors`; the parent joins the last stage. */
  selection: { survivors: number; budget: number }[];
  /** Largest number of ranks one switch moves a unit. */
  maxJump: number;
}

export interface EvoPressState {
  generation: number;
  parent: Genome;
  parentScore: number | null;
  stage: number;
  /** Candidates racing in the current stage (the parent is appended in the last stage). */
  racing: Genome[];
}

const key = (g: Genome) => g.join(',');

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
      return { generation: 0, parent, parentScore: null, stage: 0, racing: [] };
    },

    ask(state, ctx, rng) {
      if (state.generation >= config.generations) return null;
      let racing = state.racing;
      if (state.stage === 0) {
        racing = [];
        const seen = new Set([key(state.parent)]);
        // A neighbourhood smaller than λ yields fewer offspring rather than an endless retry loop.
        for (let attempt = 0; racing.length < config.offspring && attempt < 20 * config.offspring; attempt++) {
          const child = levelSwitch(ctx.space, state.parent, rng, config.maxJump);
          if (!child) continue;
          const k = key(child);
          if (seen.has(k)) continue;
          seen.add(k);
          racing.push(child);
        }
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
      return { generation: state.generation + 1, parent, parentScore: best, stage: 0, racing: [] };
    },

    best(state): Best | null {
      return state.parentScore === null ? null : { genome: state.parent, score: state.parentScore };
    },

    progress(state) {
      return { generation: state.generation, generations: config.generations };
    },
  };
}
