import { join } from 'node:path';
import { GraphBuilder } from '../runtime/onnx-graph.js';
import { UserError } from '../errors.js';
import { weightValues, type LayersModelFiles } from './layers-model.js';

/**
 * A Keras LayersModel's layer graph as an ONNX model, for onnxruntime. Tensors run channels-first
 * inside (ONNX's Conv and pooling layout): the input is transposed once on the way in and a 4-D
 * output once on the way out, so callers feed and read the same NHWC arrays as on TensorFlow.js.
 * Weights named in `fed` (the kernels a level database replaces) are graph inputs in ONNX layout
 * (see {@link toOnnxLayout}); every other weight is a constant.
 */
export function layersModelGraph(files: LayersModelFiles, fed: Set<string>): Uint8Array {
  const topology = (files.modelTopology.model_config ?? files.modelTopology) as { class_name: string; config: { layers: RawLayer[]; output_layers?: [string, number, number][] } | RawLayer[] };
  const rawLayers = Array.isArray(topology.config) ? topology.config : topology.config.layers;
  const sequential = topology.class_name === 'Sequential';
  const file = join(files.dir, 'model.json');
  const g = new GraphBuilder();
  const shapes = new Map(files.weightSpecs.map((w) => [w.name, w.shape]));
  const weight = (name: string) => {
    const shape = shapes.get(name);
    if (!shape) throw new UserError(`${file}: weightsManifest: no weight "${name}"`);
    return g.weight(name, onnxShape(shape), fed.has(name) ? new Float32Array(0) : toOnnxLayout(weightValues(files, name), shape), fed.has(name));
  };
  const unsupported = (layer: RawLayer, what: string) => new UserError(`${file}: layer "${layer.config.name ?? layer.name}" (${layer.class_name}): ${what}, which the onnx backend does not convert; use --backend tfjs`);

  /** Each layer's output: its tensor name and rank (4: NCHW image, 2: [batch, features]). */
  const outputs = new Map<string, { name: string; rank: number }>();
  let previous: { name: string; rank: number } | undefined;
  rawLayers.forEach((layer, index) => {
    const c = layer.config;
    const name = c.name ?? layer.name ?? `layer_${index}`;
    const inbound = sequential ? (previous ? [previous] : []) : (layer.inbound_nodes?.[0] ?? []).map((ref) => outputs.get(ref[0])!);
    let out: { name: string; rank: number };
    if (layer.class_name === 'InputLayer' || (index === 0 && sequential)) {
      if (outputs.size > 0) throw unsupported(layer, 'a second input');
      const shape = (c.batch_input_shape ?? c.batchInputShape) as (number | null)[];
      const x = g.input('input', shape.map((d, i) => (d === null ? `d${i}` : d)));
      out = shape.length === 4 ? { name: g.op('Transpose', [x], { perm: [0, 3, 1, 2] }), rank: 4 } : { name: x, rank: shape.length };
      if (layer.class_name === 'InputLayer') {
        outputs.set(name, out);
        previous = out;
        return;
      }
      inbound.push(out);
    }
    const [x] = inbound;
    switch (layer.class_name) {
      case 'Conv2D': {
        const k = c.kernel_size as number[];
        const strides = (c.strides as number[]) ?? [1, 1];
        const dilations = (c.dilation_rate as number[]) ?? [1, 1];
        if ((c.groups ?? 1) !== 1) throw unsupported(layer, 'grouped convolution');
        let pads = [0, 0, 0, 0];
        if (c.padding === 'same') {
          if (strides.some((s) => s !== 1)) throw unsupported(layer, "'same' padding with a stride");
          const total = k.map((kk, i) => dilations[i] * (kk - 1));
          pads = [Math.floor(total[0] / 2), Math.floor(total[1] / 2), total[0] - Math.floor(total[0] / 2), total[1] - Math.floor(total[1] / 2)];
        }
        const inputs = [x.name, weight(`${name}/kernel`), ...(c.use_bias === false ? [] : [weight(`${name}/bias`)])];
        out = activate(g, { name: g.op('Conv', inputs, { kernel_shape: k, strides, dilations, pads }), rank: 4 }, c.activation, () => unsupported(layer, `activation ${c.activation}`));
        break;
      }
      case 'Dense': {
        if (x.rank !== 2) throw unsupported(layer, 'a Dense layer on a 4-D tensor');
        let y = g.op('MatMul', [x.name, weight(`${name}/kernel`)]);
        if (c.use_bias !== false) y = g.op('Add', [y, weight(`${name}/bias`)]);
        out = activate(g, { name: y, rank: 2 }, c.activation, () => unsupported(layer, `activation ${c.activation}`));
        break;
      }
      case 'Activation':
        out = activate(g, x, c.activation, () => unsupported(layer, `activation ${c.activation}`));
        break;
      case 'ReLU':
        if (c.max_value != null || (c.negative_slope ?? 0) !== 0 || (c.threshold ?? 0) !== 0) throw unsupported(layer, 'a clipped or leaky ReLU');
        out = { name: g.op('Relu', [x.name]), rank: x.rank };
        break;
      case 'Dropout':
        out = x;
        break;
      case 'Add':
        out = { name: inbound.slice(1).reduce((sum, t) => g.op('Add', [sum, t.name]), x.name), rank: x.rank };
        break;
      case 'Concatenate': {
        const axis = (c.axis as number) ?? -1;
        if (axis !== -1 && axis !== x.rank - 1) throw unsupported(layer, `concatenation along axis ${axis}`);
        out = { name: g.op('Concat', inbound.map((t) => t.name), { axis: 1 }), rank: x.rank };
        break;
      }
      case 'UpSampling2D': {
        if ((c.interpolation ?? 'nearest') !== 'nearest') throw unsupported(layer, `${c.interpolation} interpolation`);
        const size = c.size as number[];
        // ONNX Resize's defaults (nearest, half_pixel, round_prefer_floor) repeat each pixel for integer scales, as Keras does.
        const scales = g.constant(`scales_${name}`, [4], Float32Array.of(1, 1, size[0], size[1]));
        out = { name: g.op('Resize', [x.name, '', scales]), rank: 4 };
        break;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        if (c.padding === 'same') throw unsupported(layer, "'same' padding");
        const pool = c.pool_size as number[];
        const strides = (c.strides as number[] | null) ?? pool;
        out = { name: g.op(layer.class_name === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', [x.name], { kernel_shape: pool, strides }), rank: 4 };
        break;
      }
      case 'BatchNormalization': {
        // Inference only: x·γ/√(var + ε) + (β − mean·γ/√(var + ε)), per channel, which is axis 1 inside.
        const axis = Array.isArray(c.axis) ? (c.axis as number[]) : [(c.axis as number | undefined) ?? -1];
        if (axis.length !== 1 || (axis[0] !== -1 && axis[0] !== x.rank - 1)) throw unsupported(layer, `normalisation along axis ${JSON.stringify(c.axis)}`);
        const channels = shapes.get(`${name}/moving_mean`)?.[0] ?? 0;
        const param = (w: string, fill: number) => (shapes.has(`${name}/${w}`) ? weight(`${name}/${w}`) : g.constant(`${name}_${w}`, [channels], new Float32Array(channels).fill(fill)));
        const inputs = [x.name, param('gamma', 1), param('beta', 0), weight(`${name}/moving_mean`), weight(`${name}/moving_variance`)];
        out = { name: g.op('BatchNormalization', inputs, { epsilon: { float: (c.epsilon as number | undefined) ?? 1e-3 } }), rank: x.rank };
        break;
      }
      case 'Reshape': {
        // Keras reshapes in NHWC order: back to it, reshape (0 keeps the batch), and channels-first again for an image.
        const target = c.target_shape as number[];
        if (target.length !== 1 && target.length !== 3) throw unsupported(layer, `a reshape to rank ${target.length + 1}`);
        const nhwc = x.rank === 4 ? g.op('Transpose', [x.name], { perm: [0, 2, 3, 1] }) : x.name;
        const y = g.op('Reshape', [nhwc, g.ints([0, ...target])]);
        out = target.length === 3 ? { name: g.op('Transpose', [y], { perm: [0, 3, 1, 2] }), rank: 4 } : { name: y, rank: 2 };
        break;
      }
      case 'GlobalAveragePooling2D':
        out = { name: g.op('Flatten', [g.op('GlobalAveragePool', [x.name])], { axis: 1 }), rank: 2 };
        break;
      case 'Flatten':
        // Keras flattens in NHWC order.
        out = { name: g.op('Flatten', [x.rank === 4 ? g.op('Transpose', [x.name], { perm: [0, 2, 3, 1] }) : x.name], { axis: 1 }), rank: 2 };
        break;
      default:
        throw unsupported(layer, 'a layer type');
    }
    outputs.set(name, out);
    previous = out;
  });
  const outputLayers = Array.isArray(topology.config) ? undefined : topology.config.output_layers;
  if (outputLayers && outputLayers.length !== 1) throw new UserError(`${file}: modelTopology: ${outputLayers.length} outputs, the onnx backend converts models with one`);
  const last = outputLayers ? outputs.get(outputLayers[0][0])! : previous!;
  g.output(last.rank === 4 ? g.op('Transpose', [last.name], { perm: [0, 2, 3, 1] }) : last.name, 'output', Array.from({ length: last.rank }, (_, i) => `o${i}`));
  return g.encode();
}

/** A Keras weight's shape in ONNX layout: conv kernels [kh, kw, cin, cout] → [cout, cin, kh, kw]; others unchanged. */
export function onnxShape(shape: number[]): number[] {
  return shape.length === 4 ? [shape[3], shape[2], shape[0], shape[1]] : shape;
}

/** A Keras weight's values in ONNX layout (see {@link onnxShape}). */
export function toOnnxLayout(values: Float32Array, shape: number[]): Float32Array {
  if (shape.length !== 4) return values;
  const [kh, kw, cin, cout] = shape;
  const out = new Float32Array(values.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++) out[((o * cin + i) * kh + y) * kw + x] = values[((y * kw + x) * cin + i) * cout + o];
  return out;
}

interface RawLayer {
  class_name: string;
  name?: string;
  config: Record<string, unknown> & { name?: string };
  inbound_nodes?: [string, number, number, unknown][][];
}

function activate(g: GraphBuilder, x: { name: string; rank: number }, activation: unknown, unsupported: () => Error): { name: string; rank: number } {
  switch (activation ?? 'linear') {
    case 'linear':
      return x;
    case 'relu':
      return { name: g.op('Relu', [x.name]), rank: x.rank };
    case 'sigmoid':
      return { name: g.op('Sigmoid', [x.name]), rank: x.rank };
    case 'tanh':
      return { name: g.op('Tanh', [x.name]), rank: x.rank };
    case 'softmax':
      return { name: g.op('Softmax', [x.name], { axis: 1 }), rank: x.rank };
    default:
      throw unsupported();
  }
}
