import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type * as TF from '@tensorflow/tfjs';
import { UserError } from '../errors.js';
import { readJson, validate } from '../validation.js';
import { makeDirectories } from '../files.js';
import { checkWeightValues } from './weight-values.js';

/**
 * TensorFlow.js LayersModel directories (`model.json` + binary weight shards), read from disk
 * only: no IO handler that could reach the network. The topology runs on tfjs's own Keras layer
 * implementations; this module checks what it is handed first, so that a missing shard, a shard
 * of the wrong size or a layer type we do not support is one line naming the file and the field.
 */

/** Layer types the loader accepts: what convolutional and dense Keras models of this kind use. */
export const SUPPORTED_LAYERS = [
  'InputLayer',
  'Conv2D',
  'Dense',
  'Activation',
  'ReLU',
  'Add',
  'Concatenate',
  'UpSampling2D',
  'MaxPooling2D',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'Flatten',
  'Reshape',
  'Dropout',
  'BatchNormalization',
] as const;

/** Layers whose kernel is a compressible unit. */
const KERNEL_LAYERS = new Set(['Conv2D', 'Dense']);

const BYTES: Record<string, number> = { float32: 4, int32: 4 };

const weightSpec = z.looseObject({ name: z.string(), shape: z.array(z.number().int().min(0)), dtype: z.enum(['float32', 'int32']) });
const modelJsonSchema = z.looseObject({
  format: z.literal('layers-model').optional(),
  modelTopology: z.looseObject({}),
  weightsManifest: z.array(z.looseObject({ paths: z.array(z.string().min(1)).min(1), weights: z.array(weightSpec) })).min(1),
});

interface LayerConfig {
  class_name: string;
  config: Record<string, unknown> & { name?: string };
  name?: string;
}

export interface LayersModelFiles {
  dir: string;
  modelTopology: Record<string, unknown>;
  weightSpecs: z.infer<typeof weightSpec>[];
  /** Every shard, concatenated in manifest order, as tfjs expects them. */
  weightData: ArrayBuffer;
  layers: { name: string; type: string }[];
}

/** A compressible kernel: Conv2D [kh, kw, cin, cout] or Dense [in, out], seen as an (in × out) matrix. */
export interface KernelUnit {
  layer: string;
  type: 'Conv2D' | 'Dense';
  /** The weight's name in the manifest, e.g. "F_0/kernel". */
  weight: string;
  shape: number[];
  /** kh·kw·cin for a convolution, the input width for a dense layer. */
  inFeatures: number;
  outFeatures: number;
}

/** Whether a model directory holds a TensorFlow.js LayersModel (model.json) rather than a Hugging Face–style transformer (config.json). */
export const isLayersModelDir = (dir: string): boolean => existsSync(join(dir, 'model.json'));

/** The weight shard file names of a model.json, in manifest order, checked to exist but not read. */
export function shardNames(dir: string): string[] {
  const file = join(dir, 'model.json');
  const json = validate(modelJsonSchema, readJson(file, 'LayersModel'), file);
  checkShardsExist(file, json, dir);
  return json.weightsManifest.flatMap((g) => g.paths);
}

function checkShardsExist(file: string, json: z.infer<typeof modelJsonSchema>, dir: string): void {
  json.weightsManifest.forEach((group, g) =>
    group.paths.forEach((name, k) => {
      const path = join(dir, name);
      if (!existsSync(path) || !statSync(path).isFile()) throw new UserError(`${file}: weightsManifest[${g}].paths[${k}]: weight shard "${name}" not found in ${dir}`);
    }),
  );
}

/** Reads and checks model.json and its shards. */
export function readLayersModel(dir: string): LayersModelFiles {
  const file = join(dir, 'model.json');
  const json = validate(modelJsonSchema, readJson(file, 'LayersModel'), file);
  const nested = 'model_config' in json.modelTopology;
  const config = (nested ? json.modelTopology.model_config : json.modelTopology) as { config?: { layers?: LayerConfig[] } };
  const layerConfigs = config.config?.layers;
  const layersPath = `modelTopology.${nested ? 'model_config.' : ''}config.layers`;
  if (!Array.isArray(layerConfigs)) throw new UserError(`${file}: modelTopology: expected a Keras model config with a list of layers`);
  const layers = layerConfigs.map((l, i) => {
    const name = String(l.config?.name ?? l.name ?? `#${i}`);
    if (!(SUPPORTED_LAYERS as readonly string[]).includes(l.class_name)) {
      throw new UserError(`${file}: ${layersPath}[${i}].class_name: layer "${name}" has type ${l.class_name}, which evosearch does not support (supported: ${SUPPORTED_LAYERS.join(', ')})`);
    }
    return { name, type: l.class_name };
  });

  checkShardsExist(file, json, dir);
  const shards: Uint8Array[] = [];
  json.weightsManifest.forEach((group, g) => {
    const expected = group.weights.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * BYTES[w.dtype], 0);
    const paths = group.paths.map((p) => join(dir, p));
    const sizes = paths.map((p) => statSync(p).size);
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total !== expected) {
      throw new UserError(`${paths[paths.length - 1]}: the shards of weightsManifest[${g}] hold ${total} bytes, but its ${group.weights.length} weights need ${expected}`);
    }
    for (const p of paths) shards.push(readFileSync(p));
  });
  const weightData = new Uint8Array(shards.reduce((s, b) => s + b.byteLength, 0));
  let offset = 0;
  for (const s of shards) {
    weightData.set(s, offset);
    offset += s.byteLength;
  }
  const model: LayersModelFiles = { dir, modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((g) => g.weights), weightData: weightData.buffer, layers };
  for (const w of model.weightSpecs) if (w.dtype === 'float32') checkWeightValues(weightValues(model, w.name), w.name, file);
  return model;
}

/** Builds the model on TensorFlow.js from the checked files (tf.io.fromMemory: nothing is fetched). */
export async function loadLayersModel(tf: typeof TF, files: LayersModelFiles): Promise<TF.LayersModel> {
  try {
    return await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: files.modelTopology, weightSpecs: files.weightSpecs, weightData: files.weightData }));
  } catch (err) {
    throw new UserError(`${join(files.dir, 'model.json')}: TensorFlow.js could not build the model: ${(err as Error).message.split('\n')[0]}`);
  }
}

/**
 * The kernels of the Conv2D and Dense layers, in model order: the units a level database
 * compresses. `only` keeps the named layers (all when absent).
 */
export function kernelUnits(files: LayersModelFiles, only?: string[]): KernelUnit[] {
  const specs = new Map(files.weightSpecs.map((w) => [w.name, w]));
  const units: KernelUnit[] = [];
  for (const layer of files.layers) {
    if (!KERNEL_LAYERS.has(layer.type) || (only && !only.includes(layer.name))) continue;
    const spec = specs.get(`${layer.name}/kernel`);
    if (!spec) throw new UserError(`${join(files.dir, 'model.json')}: weightsManifest: layer "${layer.name}" has no weight "${layer.name}/kernel"`);
    const shape = spec.shape;
    const outFeatures = shape[shape.length - 1];
    units.push({ layer: layer.name, type: layer.type as 'Conv2D' | 'Dense', weight: spec.name, shape, inFeatures: shape.slice(0, -1).reduce((a, b) => a * b, 1), outFeatures });
  }
  if (only) {
    const missing = only.filter((name) => !units.some((u) => u.layer === name));
    if (missing.length) throw new UserError(`${join(files.dir, 'model.json')}: no Conv2D or Dense layer named ${missing.map((m) => `"${m}"`).join(', ')}`);
  }
  return units;
}

/** The float32 values of one weight, by manifest name. */
export function weightValues(files: LayersModelFiles, name: string): Float32Array {
  let offset = 0;
  for (const w of files.weightSpecs) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    if (w.name === name) {
      if (w.dtype !== 'float32') throw new UserError(`${join(files.dir, 'model.json')}: weight "${name}" is ${w.dtype}, expected float32`);
      return new Float32Array(files.weightData.slice(offset, offset + 4 * n));
    }
    offset += n * BYTES[w.dtype];
  }
  throw new UserError(`${join(files.dir, 'model.json')}: no weight named "${name}"`);
}

/** Overwrites weights of a built model by manifest name ("F_0/kernel"): how a candidate is stitched into a LayersModel. */
export function writeWeights(tf: typeof TF, model: TF.LayersModel, changes: [string, Float32Array][]): void {
  for (const [name, data] of changes) {
    const variable = model.getLayer(name.split('/')[0]).weights.find((w) => w.originalName === name);
    if (!variable) throw new Error(`bug: the model has no weight ${name}`);
    const value = tf.tensor(data, variable.shape as number[]);
    variable.write(value); // the variable now shares the data; dropping our handle keeps it alive
    value.dispose();
  }
}

/** The model's input shape without the batch axis, e.g. [784] or [null, null, 3]. */
export function inputShape(files: LayersModelFiles): (number | null)[] {
  const first = (files.modelTopology.model_config ?? files.modelTopology) as { config?: { layers?: LayerConfig[] } };
  const layer = first.config?.layers?.[0];
  const shape = (layer?.config?.batch_input_shape ?? layer?.config?.batchInputShape) as (number | null)[] | undefined;
  return shape ? shape.slice(1) : [];
}

/** Writes a TensorFlow.js model as a LayersModel directory (model.json + one weight shard), the format {@link readLayersModel} reads. */
export async function saveLayersModel(tf: typeof TF, model: TF.LayersModel, dir: string, shard = 'weights.bin'): Promise<void> {
  makeDirectories(dir);
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      writeFileSync(join(dir, shard), new Uint8Array(artifacts.weightData as ArrayBuffer));
      const modelJson = { format: 'layers-model', generatedBy: `TensorFlow.js ${tf.version.tfjs}`, convertedBy: null, modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: [shard], weights: artifacts.weightSpecs }] };
      writeFileSync(join(dir, 'model.json'), JSON.stringify(modelJson));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
}
