/**
 * The worker-scaling benchmark's fitness module: it burns `EVOSEARCH_BENCH_EVAL_MS` of CPU per
 * evaluation, as a forward pass would, and returns an additive loss, so the measured rate is the
 * pool's and not the problem's.
 */
export default function evaluate(genome: number[], { space }: { space: { units: { levels: number[] }[] } }): number {
  const until = performance.now() + Number(process.env.EVOSEARCH_BENCH_EVAL_MS ?? 2);
  while (performance.now() < until);
  return genome.reduce((loss, level, i) => loss + (1 + (i % 5)) * space.units[i].levels[level] ** 2, 0);
}
