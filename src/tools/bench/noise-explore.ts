// Exploratory: gaps of strategies on noisy families. node dist/tools/bench/noise-explore.js <family> <strategyJSON> [seeds] [evals]
import { gapRun } from './gap.js';
import { strategySchema } from '../../strategies/index.js';
import type { SyntheticProblemSpec } from '../../fitness/synthetic.js';

const FAMILIES: Record<string, { space: [ 'equalStep' | 'unequalCost', number, number]; problem: Omit<SyntheticProblemSpec, 'seed'>; slices: number }> = {
  add: { space: ['equalStep', 100, 10], problem: {}, slices: 1 },
  addU: { space: ['unequalCost', 100, 10], problem: {}, slices: 1 },
  chain: { space: ['equalStep', 100, 10], problem: { propagation: 'chain' }, slices: 1 },
  chainU: { space: ['unequalCost', 200, 8], problem: { propagation: 'chain' }, slices: 1 },
  mult: { space: ['equalStep', 100, 10], problem: { propagation: 'multiplicative', strength: 2 }, slices: 1 },
  multU: { space: ['unequalCost', 200, 8], problem: { propagation: 'multiplicative', strength: 2 }, slices: 1 },
  fixed1: { space: ['equalStep', 100, 10], problem: { propagation: 'chain', noise: 0.02, noiseScale: 'uniformLoss', noiseShrinks: false }, slices: 1 },
  fixed1U: { space: ['unequalCost', 200, 8], problem: { propagation: 'chain', noise: 0.02, noiseScale: 'uniformLoss', noiseShrinks: false }, slices: 1 },
  fixed16: { space: ['equalStep', 100, 10], problem: { propagation: 'chain', noise: 0.02, noiseScale: 'uniformLoss', noiseShrinks: false }, slices: 16 },
  fixed16U: { space: ['unequalCost', 200, 8], problem: { propagation: 'chain', noise: 0.02, noiseScale: 'uniformLoss', noiseShrinks: false }, slices: 16 },
  shrink16: { space: ['equalStep', 100, 10], problem: { propagation: 'chain', noise: 0.02, noiseScale: 'uniformLoss', noiseShrinks: true }, slices: 16 },
  shrink16U: { space: ['unequalCost', 200, 8], problem: { propagation: 'chain', noise: 0.02, noiseScale: 'uniformLoss', noiseShrinks: true }, slices: 16 },
};
const [family, strategyJson, seedsArg, evalsArg, vArg] = process.argv.slice(2);
const f = FAMILIES[family];
const config = strategySchema.parse(JSON.parse(strategyJson));
const seeds = Number(seedsArg ?? 3);
const gaps: number[] = [];
let secs = 0;
let evals = 0;
for (let seed = 1; seed <= seeds; seed++) {
  const run = gapRun({ family: f.space[0], units: f.space[1], levels: f.space[2], seed, budgetFraction: 0.5 }, config, { seed, maxEvaluations: Number(evalsArg ?? 24000), slices: f.slices, validationSlices: Number(vArg ?? 0), curveEvery: 6000 }, f.problem);
  gaps.push(run.gap);
  secs += run.seconds;
  evals = run.evaluations;
  if (process.env.CURVE) console.log(run.curve.map((p) => `${p.evaluations}:${p.gap.toFixed(1)}`).join(' '));
}
const sorted = [...gaps].sort((a, b) => a - b);
console.log(`${family.padEnd(10)} ${strategyJson.padEnd(70)} median ${sorted[Math.floor(seeds / 2)].toFixed(2)}  [${gaps.map((g) => g.toFixed(2)).join(' ')}] evals ${evals} ${secs.toFixed(0)}s`);
