import type { StrategyConfig } from '../config/schema.js';
import type { Strategy } from './types.js';
import { evopress } from './evopress.js';
import { genetic } from './genetic.js';
import { randomSearch, uniformBaseline } from './baselines.js';

export function createStrategy(config: StrategyConfig): Strategy {
  switch (config.type) {
    case 'evopress':
      return evopress(config) as Strategy;
    case 'genetic':
      return genetic(config) as Strategy;
    case 'random':
      return randomSearch(config) as Strategy;
    case 'uniform':
      return uniformBaseline(config) as Strategy;
  }
}
