// A toy fitness: each unit's loss grows with its compression level, some units matter more.
// evosearch calls it with genome[i] = level index of unit i; lower is better.
export default function evaluate(genome, ctx) {
  let loss = 0;
  genome.forEach((level, i) => {
    const sparsity = ctx.space.units[i].levels[level];
    loss += (1 + (i % 3)) * sparsity ** 2;
  });
  return loss;
}
