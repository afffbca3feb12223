import { forward, type Transformer } from '../models/transformer.js';

/**
 * ShortGPT's block influence (Men et al., 2024): 1 − the mean cosine similarity, over calibration
 * tokens, between the residual stream entering a sub-block (or block) and the stream leaving it.
 * A unit that barely turns the stream matters little. One value per unit, in the order of the
 * model's sub-blocks (attention then MLP of each block) or of its blocks.
 */
export function blockInfluence(model: Transformer, windows: Uint16Array[], granularity: 'sublayer' | 'block'): number[] {
  const d = model.config.dModel;
  const points = 2 * model.config.nLayers + 1;
  const stride = granularity === 'sublayer' ? 1 : 2;
  const units = (points - 1) / stride;
  const cosSum = new Float64Array(units);
  let tokens = 0;
  for (const window of windows) {
    const streams: Float32Array[] = [];
    forward(model, window, (point, x) => (streams[point] = x));
    const T = window.length;
    for (let u = 0; u < units; u++) {
      const before = streams[u * stride];
      const after = streams[(u + 1) * stride];
      for (let t = 0; t < T; t++) {
        let dot = 0;
        let a2 = 0;
        let b2 = 0;
        for (let j = t * d; j < (t + 1) * d; j++) {
          dot += before[j] * after[j];
          a2 += before[j] * before[j];
          b2 += after[j] * after[j];
        }
        cosSum[u] += dot / Math.sqrt(a2 * b2 || 1);
      }
    }
    tokens += T;
  }
  return Array.from(cosSum, (c) => 1 - c / tokens);
}
