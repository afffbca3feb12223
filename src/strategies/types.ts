import type { Fidelity, Genome, SpaceIndex } from '../space/space.js';
import type { Rng } from '../rng/rng.js';

/** One request from a strategy: score these candidates at this fidelity. */
export interface Ask {
  candidates: Genome[];
  fidelity: Fidelity;
  /** Evaluations that later asks of this search still need (validating its winner): this ask never spends them. */
  reserve?: number;
  /**
   * Measurements, not candidates: configurations outside the budget that a baseline measures to
   * build its answer (the DP's single-unit errors). Exempt from the budget check; a strategy never
   * makes one its best, and the engine checks that.
   */
  probe?: boolean;
}

/**
 * The score a strategy is told for a candidate that was not evaluated because the run's
 * evaluation cap fell inside its ask: worse than any measurement, and never learnt from.
 */
export const UNSCORED = Infinity;

export interface Best {
  genome: Genome;
  /** Always "lower is better": the engine negates maximised fitness before telling. */
  score: number;
  /** Once the winner is validated: its mean score on the validation slices (lower is better, like `score`). */
  validation?: Validation;
}

/** What a validated run reports besides its search score. */
export interface Validation {
  /** The mean score over the validation slices. */
  score: number;
  /** How many validation slices it was measured on, and among how many finalists it won. */
  slices: number;
  finalists: number;
}

export interface StrategyContext {
  space: SpaceIndex;
  /** The experiment seed: slices are derived from it, never from the clock. */
  seed: number;
  /** How many distinct calibration slices the fitness offers to the search (fidelity slices 0..slices-1). */
  slices: number;
  /** Calibration slices reserved for validating the best configurations at the end (fidelity slices slices..slices+validationSlices-1); the search never asks for them. */
  validationSlices: number;
}

/**
 * A pure ask/tell state machine. State is plain JSON: a checkpoint is `JSON.stringify(state)` and
 * resume is `JSON.parse`. No I/O, no clock, no Math.random: randomness comes only from `rng`,
 * whose state the engine checkpoints next to the strategy state. Functions never mutate `state`.
 */
export interface Strategy<S = unknown> {
  readonly type: string;
  init(ctx: StrategyContext, rng: Rng): S;
  /**
   * The next request and the state that awaits its scores, or null when the search is over.
   * `left`: evaluations the run may still compute under its cap (absent: no cap). Beyond
   * `left − reserve`, candidates are not evaluated and are told {@link UNSCORED}.
   */
  ask(state: S, ctx: StrategyContext, rng: Rng, left?: number): { state: S; ask: Ask } | null;
  /** Scores come in candidate order; {@link UNSCORED} marks a candidate the cap left out. */
  tell(state: S, scores: number[], ctx: StrategyContext, rng: Rng): S;
  best(state: S): Best | null;

  /** Completed and planned generations, for progress and export. */
  progress(state: S): { generation: number; generations: number };
}

/** A search that can name its best few distinct configurations, the incumbent first, for validation on held-back slices. */
export interface Search<S> extends Strategy<S> {
  finalists(state: S, count: number): Best[];
}
