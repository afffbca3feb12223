import type * as TF from '@tensorflow/tfjs';
import type { KernelUnit } from '../models/layers-model.js';
import { UserError } from '../errors.js';
import { matrix, type Matrix } from './linalg.js';
import { im2col } from '../models/im2col.js';

/**
 * H = Σ XᵀX for the input X of every kernel layer of a LayersModel over calibration inputs. A
 * Conv2D's X has one row per output pixel holding its receptive field in the kernel's own order
 * (dy, dx, channel), so that (kh·kw·cin) × cout compression sees exactly what the convolution
 * multiplies; a Dense layer's X is its input. tfjs computes every product.
 */
export async function collectLayerGrams(tf: typeof TF, model: TF.LayersModel, units: KernelUnit[], inputs: TF.Tensor[], onInput?: (done: number) => void): Promise<Map<string, Matrix>> {
  const layers = units.map((u) => model.getLayer(u.layer));
  const probe = tf.model({ inputs: model.inputs, outputs: layers.map((l) => l.input as TF.SymbolicTensor) });
  const grams = new Map(units.map((u) => [u.weight, matrix(u.inFeatures, u.inFeatures)]));
  // The probe shares the model's layers: disposing it would dispose them, so the model's owner frees both.
  for (const [i, input] of inputs.entries()) {
    const outputs = probe.predict(input) as TF.Tensor | TF.Tensor[];
    const list = Array.isArray(outputs) ? outputs : [outputs];
    units.forEach((u, k) => {
      const gram = tf.tidy(() => {
        const x = u.type === 'Conv2D' ? receptiveFields(tf, list[k] as TF.Tensor4D, layers[k].getConfig()) : list[k].reshape([-1, u.inFeatures]);
        return tf.matMul(x.transpose(), x);
      });
      const values = gram.dataSync();
      gram.dispose();
      const sum = grams.get(u.weight)!.data;
      for (let j = 0; j < values.length; j++) sum[j] += values[j];
    });
    tf.dispose(list);
    onInput?.(i + 1);
  }
  return grams;
}

/** A Conv2D layer's input as receptive fields, checked to be a convolution im2col reproduces. */
function receptiveFields(tf: typeof TF, x: TF.Tensor4D, config: TF.serialization.ConfigDict): TF.Tensor2D {
  const [kh, kw] = config.kernelSize as number[];
  const strides = (config.strides as number[] | undefined) ?? [1, 1];
  const dilation = (config.dilationRate as number[] | undefined) ?? [1, 1];
  if (strides.some((s) => s !== 1) || dilation.some((d) => d !== 1)) {
    throw new UserError(`layer "${String(config.name)}": calibration supports stride-1, undilated convolutions only (strides ${strides}, dilation ${dilation})`);
  }
  return im2col(tf, x, kh, kw, config.padding === 'same' ? 'same' : 'valid');
}
