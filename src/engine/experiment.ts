import type { Space } from '../space/space.js';
import type { StrategyConfig } from '../strategies/index.js';
import type { FitnessSpec } from '../fitness/types.js';

/** An experiment with every reference resolved: what a run stores and what resume replays. */
export interface Experiment {
  name: string;
  seed: number;
  space: Space;
  strategy: StrategyConfig;
  fitness: FitnessSpec;
  workers?: number;
  stop: { maxEvaluations?: number };
  /** Remote evaluation: a dead worker's job goes to another after `lockSeconds`. */
  remote?: { lockSeconds: number };
  /** A budget sweep: each budget's value and space; runs of a sweep are made from these (see cli/sweep.ts). */
  sweep?: { value: number | string; space: Space }[];
  /** The experiment file it came from (absolute), for messages. */
  source: string;
}
