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

/**
 * Starts of `count` windows of `length` + 1 tokens that share no token with the `searchCount`
 * evaluation windows of {@link evaluationWindows} (which stay where they are): they sit in the
 * gaps between those windows, spread evenly over the gaps and, where a gap holds several, evenly
 * within it. Throws when the gaps are too short for them.
 */
export function windowsBetween(total: number, length: number, searchCount: number, count: number): number[] {
  if (count === 0) return [];
  const stride = Math.floor(total / searchCount);
  const gap = stride - (length + 1); // every gap is at least this long; the last one may be longer
  const perGap = Math.ceil(count / searchCount);
  const slot = Math.floor(gap / perGap);
  if (slot < length + 1) {
    const room = Math.max(0, searchCount * Math.floor(Math.max(0, gap) / (length + 1)));
    throw new Error(`the text has room for only ${room} windows of ${length + 1} tokens beside the ${searchCount} search windows, ${count} asked`);
  }
  const starts: number[] = [];
  let previous = -1;
  let inGap = 0;
  for (let j = 0; j < count; j++) {
    const g = Math.floor((j * searchCount) / count);
    inGap = g === previous ? inGap + 1 : 0;
    previous = g;
    starts.push(g * stride + length + 1 + inGap * slot + Math.floor((slot - (length + 1)) / 2));
  }
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
