import { z } from 'zod';
import type { Space } from '../space/space.js';
import type { Strategy } from './types.js';
import { withValidation } from './validation.js';
import { evopress, evopressSchema } from './evopress.js';
import { genetic, geneticSchema } from './genetic.js';
import { randomSchema, randomSearch, uniformBaseline, uniformSchema } from './baselines.js';
import { layerDp, layerDpSchema } from './layer-dp.js';
import { owl, owlSchema, type OwlConfig } from './owl.js';
import { blockInfluenceBaseline, blockInfluenceSchema } from './block-influence.js';

/** Every strategy's settings, told apart by `type`: each schema sits beside its strategy. */
export const strategySchema = z.discriminatedUnion('type', [evopressSchema, geneticSchema, randomSchema, uniformSchema, layerDpSchema, owlSchema, blockInfluenceSchema]);

export type StrategyConfig = z.infer<typeof strategySchema>;

/**
 * `budgetIsSteps`: the fitness's budget is training steps (distill, train), not data, so finalists
 * are validated at the largest budget the search used rather than at one slice's worth of data.
 */
export function createStrategy(config: StrategyConfig, budgetIsSteps = false): Strategy {
  const validationBudget = budgetIsSteps ? largestBudget(config) : 1;
  switch (config.type) {
    case 'evopress':
      return withValidation(evopress(config), config.finalists, validationBudget) as Strategy;
    case 'genetic':
      return withValidation(genetic(config), config.finalists, validationBudget) as Strategy;
    case 'random':
      return withValidation(randomSearch(config), config.finalists, validationBudget) as Strategy;
    case 'uniform':
      return uniformBaseline(config);
    case 'dp':
      return layerDp(config) as Strategy;
    case 'owl':
      return owl(config) as Strategy;
    case 'block-influence':
      return blockInfluenceBaseline(config) as Strategy;
  }
}

/** The largest fidelity budget a strategy asks for: what its search reads at most of each slice. */
export function largestBudget(config: StrategyConfig): number {
  return config.type === 'evopress' ? Math.max(...config.selection.map((s) => s.budget)) : config.budget;
}

/** The per-layer heuristics `evosearch baseline` runs on an experiment's space, as runs of their own. */
export const BASELINE_METHODS = ['uniform', 'owl', 'block-influence', 'dp'] as const;
export type BaselineMethod = (typeof BASELINE_METHODS)[number];

/** What a baseline measures on the model before it runs: OWL's outlier ratios, ShortGPT's block influence. */
export interface BaselineMeasurements {
  owl?: Pick<OwlConfig, 'outliers'> & Partial<Pick<OwlConfig, 'lambdas'>>;
  influence?: number[];
}

/**
 * A baseline's strategy in place of an experiment's search. It measures at the search's largest
 * fidelity budget, so that its scores read as much calibration data as the search's deciding stage.
 */
export function baselineStrategy(method: BaselineMethod, search: StrategyConfig, measured: BaselineMeasurements = {}): StrategyConfig {
  const budget = largestBudget(search);
  switch (method) {
    case 'owl':
      return owlSchema.parse({ type: 'owl', budget, ...(measured.owl ?? fail('outlier ratios')) });
    case 'block-influence':
      return { type: 'block-influence', budget, influence: measured.influence ?? fail('block influence') };
    default:
      return { type: method, budget };
  }
}

const fail = (what: string): never => {
  throw new Error(`bug: a baseline without its ${what}`);
};

/** Why a strategy cannot search a space, or null: the per-layer baselines allocate levels under a cost that is a sum over units. */
export function strategySpaceProblem(config: StrategyConfig, space: Space): string | null {
  const perLayer = (BASELINE_METHODS as readonly string[]).includes(config.type) && config.type !== 'uniform';
  return perLayer && space.architecture ? `${config.type} allocates levels under an additive cost; an architecture space's size is not a sum over its genes` : null;
}
