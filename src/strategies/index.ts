import { z } from 'zod';
import type { Strategy } from './types.js';
import { withValidation } from './validation.js';
import { evopress, evopressSchema } from './evopress.js';
import { genetic, geneticSchema } from './genetic.js';
import { randomSchema, randomSearch, uniformBaseline, uniformSchema } from './baselines.js';

/** Every strategy's settings, told apart by `type`: each schema sits beside its strategy. */
export const strategySchema = z.discriminatedUnion('type', [evopressSchema, geneticSchema, randomSchema, uniformSchema]);

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
  }
}

/** The largest fidelity budget a strategy asks for: what its search reads at most of each slice. */
export function largestBudget(config: StrategyConfig): number {
  return config.type === 'evopress' ? Math.max(...config.selection.map((s) => s.budget)) : config.budget;
}
