import type { TransformerConfig } from '../models/config.js';
import type { Weights } from '../models/transformer.js';
import { TfjsTransformer } from '../models/transformer-tfjs.js';
import { initTensorflow } from '../runtime/tfjs.js';
import type { LmExecutor } from './lm-backends.js';

/**
 * The `tfjs` backend: TensorFlow.js (tfjs-node-gpu or tfjs-node when installed, else wasm). The
 * model keeps its weight tensors; a call re-uploads only the weights whose array changed since
 * the previous call, which is what stitching a candidate changes. Loaded lazily: onnx runs never
 * pay for TensorFlow.js.
 */
export async function tfjsExecutor(config: TransformerConfig, dense: Weights): Promise<LmExecutor> {
  const { tf, backend } = await initTensorflow();
  const model = new TfjsTransformer(tf, config, dense);
  const held = new Map(dense);
  return {
    name: `tfjs (${backend})`,
    async logits(tokens, weights) {
      for (const [name, data] of weights) {
        if (held.get(name) === data) continue;
        model.setWeight(name, data);
        held.set(name, data);
      }
      return model.logits(tokens);
    },
    async close() {
      model.dispose();
    },
  };
}
