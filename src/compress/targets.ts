import { join } from 'node:path';
import { linearLayers, readTransformerConfig, subBlocks, weightShapes } from '../models/config.js';
import { loadTransformer } from '../models/transformer.js';
import { readTokenizer } from '../models/tokenizer.js';
import type * as TF from '@tensorflow/tfjs';
import { inputShape, isLayersModelDir, kernelUnits, loadLayersModel, readLayersModel, shardNames, weightValues, type LayersModelFiles } from '../models/layers-model.js';
import { isPictureInput, loadPictures, PICTURE_SIZE } from '../data/fashion.js';
import { sotuStreams, windowsHash, windowsOf } from '../data/text.js';
import { CALIBRATION_PHOTOS, patches, photo } from '../data/photos.js';
import { initTensorflow } from '../runtime/tfjs.js';
import { UserError } from '../errors.js';
import { blockInfluence } from './influence.js';
import { collectGrams, densePerplexity } from './calibrate.js';
import { collectLayerGrams } from './calibrate-layers.js';
import type { Matrix } from './linalg.js';

/**
 * What a level database needs from a model, whatever its format: its compressible weight
 * matrices, their values, the calibration statistics of their inputs and, where the architecture
 * has them, the sub-blocks that can be dropped. Two formats: a Hugging Face–style transformer
 * directory (config.json) and a TensorFlow.js LayersModel directory (model.json).
 */
export interface CompressibleLayer {
  /** The weight's name in the model's own files. */
  weight: string;
  inFeatures: number;
  outFeatures: number;
  /** [in, out] (GPT-2 Conv1D, Keras Dense and Conv2D kernels) or [out, in] (torch Linear). */
  layout: 'inOut' | 'outIn';
  shape: number[];
}

export interface DropUnit {
  name: string;
  weights: string[];
  parameters: number;
}

export interface Calibration {
  grams: Map<string, Matrix>;
  info: { corpus: string; windows: number; length: number; sha256: string };
}

export interface CompressionTarget {
  readonly family: string;
  readonly layers: CompressibleLayer[];
  weight(name: string): Float32Array;
  dropUnits(granularity: 'sublayer' | 'block'): DropUnit[];
  calibrate(count: number, length: number, onSample: (done: number) => void): Promise<Calibration>;
  /** ShortGPT's block influence of each drop unit of `granularity`, on `count` calibration samples. */
  blockInfluence(granularity: 'sublayer' | 'block', count: number, length: number): number[];
  /** How well the dense model does on `count` calibration samples, where the model has a measure of its own (a language model's perplexity). */
  denseQuality(count: number, length: number): Promise<DenseQuality | null>;
}

export interface DenseQuality {
  metric: 'perplexity';
  value: number;
  samples: number;
  length: number;
}

/** Calibration sample size when a config gives none: a transformer's context, an image patch side. Reads no weights. */
export function defaultCalibrationLength(dir: string): number {
  return isLayersModelDir(dir) ? 32 : readTransformerConfig(join(dir, 'config.json')).contextLength;
}

export async function openTarget(dir: string): Promise<CompressionTarget> {
  return isLayersModelDir(dir) ? layersTarget(dir) : transformerTarget(dir);
}

function transformerTarget(dir: string): CompressionTarget {
  const model = loadTransformer(dir);
  // The corpus is tokenized once (a BPE tokenizer takes seconds over it).
  let calibrationText: Uint16Array | null = null;
  const calibrationWindows = (count: number, length: number) => {
    if (!calibrationText) {
      const tokenizer = readTokenizer(dir);
      calibrationText = sotuStreams((t) => tokenizer.encode(t)).calibration;
    }
    return windowsOf(calibrationText, length, count);
  };
  const shapes = weightShapes(model.config);
  const layers = linearLayers(model.config);
  return {
    family: model.config.family,
    layers: layers.map(({ weight, inFeatures, outFeatures, layout }) => ({ weight, inFeatures, outFeatures, layout, shape: shapes.get(weight)! })),
    weight: (name) => model.weights.get(name)!,
    dropUnits(granularity) {
      const subs = subBlocks(model.config);
      const groups =
        granularity === 'sublayer'
          ? subs.map((s) => ({ name: s.name, members: [s] }))
          : Array.from({ length: model.config.nLayers }, (_, b) => ({ name: `block.${b}`, members: subs.filter((s) => s.block === b) }));
      // A unit's parameters: every linear weight of its sub-blocks (what dropping it saves).
      return groups.map(({ name, members }) => ({
        name,
        weights: members.flatMap((m) => m.outputs),
        parameters: layers.filter((l) => members.some((m) => m.block === l.block && m.part === l.part)).reduce((sum, l) => sum + l.inFeatures * l.outFeatures, 0),
      }));
    },
    // Calibration windows hold `length` inputs and their next tokens: the influence reads the inputs.
    blockInfluence: (granularity, count, length) => blockInfluence(model, calibrationWindows(count, length).map((w) => w.subarray(0, length)), granularity),
    async calibrate(count, length, onSample) {
      const windows = calibrationWindows(count, length);
      const grams = await collectGrams(model, windows, onSample);
      return { grams, info: { corpus: 'sotu-before-2011', windows: windows.length, length, sha256: windowsHash(windows) } };
    },
    async denseQuality(count, length) {
      const windows = calibrationWindows(count, length);
      return { metric: 'perplexity', value: await densePerplexity(model, windows), samples: windows.length, length };
    },
  };
}

function noDrops(dir: string): never {
  throw new UserError(`${join(dir, 'model.json')}: drop databases need a transformer (attention and MLP sub-blocks); a LayersModel supports sparsity and quantization`);
}

async function layersTarget(dir: string): Promise<CompressionTarget> {
  const files = readLayersModel(dir);
  const units = kernelUnits(files);
  return {
    family: 'layers-model',
    layers: units.map((u) => ({ weight: u.weight, inFeatures: u.inFeatures, outFeatures: u.outFeatures, layout: 'inOut', shape: u.shape })),
    weight: (name) => weightValues(files, name),
    dropUnits: () => noDrops(dir),
    blockInfluence: () => noDrops(dir),
    async calibrate(count, length, onSample) {
      const { tf } = await initTensorflow();
      const model = await loadLayersModel(tf, files);
      const { samples, inputs, corpus } = layersCalibrationData(tf, files, count, length);
      try {
        const grams = await collectLayerGrams(tf, model, units, inputs, onSample);
        return { grams, info: { corpus, windows: count, length, sha256: windowsHash(samples) } };
      } finally {
        tf.dispose(inputs);
        model.dispose();
      }
    },
    denseQuality: async () => null,
  };
}

/**
 * Real inputs for a LayersModel's calibration, chosen by its input shape: RGB images get patches
 * of the calibration photographs (`length` pixels square), 28 × 28 grey inputs get the calibration
 * split of Fashion-MNIST.
 */
export function layersCalibrationData(tf: typeof TF, files: LayersModelFiles, count: number, length: number) {
  const shape = inputShape(files);
  if (shape.length === 3 && shape[2] === 3) {
    const samples = patches(CALIBRATION_PHOTOS.map(photo), count, length);
    return { samples, inputs: samples.map((p) => tf.tensor4d(p, [1, length, length, 3])), corpus: 'stdlib-photos-calibration' };
  }
  if (isPictureInput(shape)) {
    const pictures = loadPictures('calibration');
    if (count > pictures.count) throw new UserError(`calibration.windows: ${count} pictures asked, the calibration split has ${pictures.count}`);
    const samples = [pictures.images.slice(0, count * PICTURE_SIZE)];
    const inputs = [];
    for (let i = 0; i < count; i += 256) {
      const n = Math.min(count, i + 256) - i;
      inputs.push(tf.tensor(samples[0].subarray(i * PICTURE_SIZE, (i + n) * PICTURE_SIZE), [n, ...(shape as number[])]));
    }
    return { samples, inputs, corpus: 'fashion-mnist-calibration' };
  }
  throw new UserError(`${join(files.dir, 'model.json')}: input shape [${shape.join(', ')}]: evosearch has calibration data for RGB images and 28 × 28 grey pictures ([784] or [28, 28, 1]) only`);
}
