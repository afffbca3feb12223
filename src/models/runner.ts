/** Where a model runs: onnxruntime (its graph built here, weights as inputs) or TensorFlow.js. */
export type Backend = 'onnx' | 'tfjs';

/**
 * One model held on one backend, as a worker keeps it for a whole run: a candidate configuration
 * replaces weights by name (`write`), never the model or the session, and `run` feeds one input
 * through whatever weights are in it now. Language models and LayersModels both run this way.
 */
export interface ModelRunner<Input> {
  /** The backend in words, for messages: "onnx (cpu)", "tfjs (wasm)". */
  readonly name: string;
  /** Replaces the named weights (the model's own names and layout); the others stay as they are. */
  write(changes: Iterable<[string, Float32Array]>): void;
  run(input: Input): Promise<Float32Array>;
  close(): Promise<void>;
}
