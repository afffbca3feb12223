/**
 * Starts of `count` evenly spaced evaluation windows of `length` + 1 tokens (inputs and their
 * next-token labels) in a text of `total` tokens: held-out perplexity is always measured on
 * these, by training and by evaluation alike.
 */
export function evaluationWindows(total: number, length: number, count: number): number[] {
  const starts: number[] = [];
  const stride = Math.floor(total / count);
  for (let s = 0; s + length + 1 <= total && starts.length < count; s += stride) starts.push(s);
  return starts;
}

/** Mean negative log-likelihood (nats) of each next token under row-wise logits [T × vocab]. */
export function meanNll(logits: Float32Array, labels: ArrayLike<number>, vocab: number): number {
  let total = 0;
  for (let t = 0; t < labels.length; t++) {
    let max = -Infinity;
    for (let v = 0; v < vocab; v++) max = Math.max(max, logits[t * vocab + v]);
    let sum = 0;
    for (let v = 0; v < vocab; v++) sum += Math.exp(logits[t * vocab + v] - max);
    total += Math.log(sum) + max - logits[t * vocab + labels[t]];
  }
  return total / labels.length;
}
