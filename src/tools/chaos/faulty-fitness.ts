/**
 * The chaos run's fitness module: the reference language model's KL fitness (the spec comes in
 * EVOSEARCH_CHAOS_SPEC), with faults injected on a deterministic share of evaluations when
 * EVOSEARCH_CHAOS_FAULTS names a plan. Each fault fires once per evaluation key and is recorded in
 * the plan's log, so the retry or the resume that follows it computes the true value: the run must
 * end exactly where a run without faults ends.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { LmFitness, type LmFitnessSpec } from '../../fitness/lm.js';
import { hash32 } from '../../rng/rng.js';

export interface FaultPlan {
  /** Evaluations whose key hashes to 0 modulo `every` are candidates for a fault. */
  every: number;
  /** How many evaluations crash their worker (process.exit), then how many hang. */
  crash: number;
  hang: number;
  /** One line per fault fired: "<kind> <key>". */
  log: string;
}

const spec = JSON.parse(process.env.EVOSEARCH_CHAOS_SPEC ?? 'null') as LmFitnessSpec | null;
const plan = JSON.parse(process.env.EVOSEARCH_CHAOS_FAULTS ?? 'null') as FaultPlan | null;
let fitness: Promise<LmFitness> | null = null;

export default async function evaluate(genome: number[], { budget, slice }: { budget: number; slice: number }): Promise<number> {
  if (!spec) throw new Error('EVOSEARCH_CHAOS_SPEC is not set');
  fitness ??= LmFitness.load(spec);
  const loaded = await fitness;
  const fault = plan && faultFor(plan, `${genome.join(',')}|${budget}|${slice}`);
  if (fault === 'crash') process.exit(3);
  if (fault === 'hang') await new Promise(() => {});
  return loaded.evaluate(genome, { budget, slice });
}

export async function close(): Promise<void> {
  await (await fitness)?.close();
}

/** The fault this evaluation gets, recorded before it fires: crashes first, then hangs, each key at most once. */
function faultFor(plan: FaultPlan, key: string): 'crash' | 'hang' | null {
  if (hash32(key) % plan.every !== 0) return null;
  const fired = existsSync(plan.log) ? readFileSync(plan.log, 'utf8').split('\n').filter(Boolean).map((line) => line.split(' ')) : [];
  if (fired.some(([, k]) => k === key)) return null;
  const count = (kind: string) => fired.filter(([k]) => k === kind).length;
  const kind = count('crash') < plan.crash ? 'crash' : count('hang') < plan.hang ? 'hang' : null;
  if (kind) appendFileSync(plan.log, `${kind} ${key}\n`);
  return kind;
}
