/**
 * A trainable convolutional classifier of 28 × 28 grey pictures, in TensorFlow.js: stages of a
 * 'same' k × k convolution with ReLU and a 2 × 2 max-pool, then a hidden dense layer with ReLU and
 * the class logits. The convolutions carry their own filter gradient (trainingConv2dSame), which
 * tfjs's wasm backend lacks.
 */
import type * as tfType from '@tensorflow/tfjs';
import { trainingConv2dSame, trainingMatmul as matmul } from '../runtime/tfjs.js';

type TF = typeof tfType;
type Tensor = tfType.Tensor;
type Variable = tfType.Variable;

export interface CnnShape {
  /** Picture side and channels. */
  inputSize: number;
  inputChannels: number;
  classes: number;
  /** Per stage: output channels and kernel size. */
  channels: number[];
  kernels: number[];
  /** Units of the hidden dense layer. */
  dense: number;
}

/** Every parameter with its shape, in Keras's layouts: conv kernels [k, k, cin, cout], dense [in, out]. */
export function cnnWeightShapes(s: CnnShape): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  let channels = s.inputChannels;
  let side = s.inputSize;
  s.channels.forEach((c, i) => {
    shapes.set(`conv${i + 1}.kernel`, [s.kernels[i], s.kernels[i], channels, c]).set(`conv${i + 1}.bias`, [c]);
    channels = c;
    side = Math.floor(side / 2);
  });
  shapes.set('hidden.kernel', [side * side * channels, s.dense]).set('hidden.bias', [s.dense]);
  shapes.set('logits.kernel', [s.dense, s.classes]).set('logits.bias', [s.classes]);
  return shapes;
}

/** He-initialised kernels (ReLU follows every layer but the last), zero biases. `normal` draws N(0, 1). */
export function initCnnParams(tf: TF, shape: CnnShape, normal: () => number): Map<string, Variable> {
  const params = new Map<string, Variable>();
  for (const [name, dims] of cnnWeightShapes(shape)) {
    const n = dims.reduce((a, b) => a * b, 1);
    const fanIn = dims.length > 1 ? dims.slice(0, -1).reduce((a, b) => a * b, 1) : 1;
    const values = name.endsWith('.bias') ? new Float32Array(n) : Float32Array.from({ length: n }, () => normal() * Math.sqrt(2 / fanIn));
    // Named by weight: Adam looks gradients up by variable name.
    params.set(name, tf.variable(tf.tensor(values, dims), true, name));
  }
  return params;
}

/** Class logits [batch, classes] of pictures [batch, inputSize²·inputChannels]. */
export function cnnLogits(tf: TF, s: CnnShape, params: Map<string, Tensor>, pictures: Tensor): Tensor {
  const p = (name: string) => params.get(name)!;
  let x = pictures.reshape([-1, s.inputSize, s.inputSize, s.inputChannels]) as tfType.Tensor4D;
  s.channels.forEach((c, i) => {
    const conv = trainingConv2dSame(x, p(`conv${i + 1}.kernel`) as tfType.Tensor4D).add(p(`conv${i + 1}.bias`)).relu();
    x = tf.maxPool(conv as tfType.Tensor4D, 2, 2, 'valid');
  });
  const flat = x.reshape([x.shape[0], -1]);
  const hidden = matmul(flat, p('hidden.kernel')).add(p('hidden.bias')).relu();
  return matmul(hidden, p('logits.kernel')).add(p('logits.bias'));
}

/**
 * The same network as Keras layers holding `weights`: what `export --format tfjs` writes, and what
 * any tfjs user (and `db build`) loads. Flatten reads NHWC, as the reshape of {@link cnnLogits} does.
 */
export function cnnLayersModel(tf: TF, s: CnnShape, weights: Map<string, Float32Array>): tfType.Sequential {
  const layers: tfType.layers.Layer[] = [];
  s.channels.forEach((filters, i) => {
    const input = i === 0 ? { inputShape: [s.inputSize, s.inputSize, s.inputChannels] } : {};
    layers.push(tf.layers.conv2d({ name: `conv${i + 1}`, filters, kernelSize: s.kernels[i], padding: 'same', activation: 'relu', ...input }));
    layers.push(tf.layers.maxPooling2d({ name: `pool${i + 1}`, poolSize: 2 }));
  });
  layers.push(tf.layers.flatten({ name: 'flatten' }), tf.layers.dense({ name: 'hidden', units: s.dense, activation: 'relu' }), tf.layers.dense({ name: 'logits', units: s.classes }));
  const model = tf.sequential({ layers });
  const shapes = cnnWeightShapes(s);
  for (const layer of [...s.channels.map((_, i) => `conv${i + 1}`), 'hidden', 'logits']) {
    const tensor = (part: string) => tf.tensor(weights.get(`${layer}.${part}`)!, shapes.get(`${layer}.${part}`)!);
    const values = [tensor('kernel'), tensor('bias')];
    model.getLayer(layer).setWeights(values);
    tf.dispose(values);
  }
  return model;
}
