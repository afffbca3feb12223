import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Experiment } from '../engine/experiment.js';
import type { Genome } from '../space/space.js';
import { readManifest } from '../compress/manifest.js';
import { layersModelStitcher, transformerStitcher } from '../compress/stitcher.js';
import { isLayersModelDir, readLayersModel } from '../models/layers-model.js';
import { loadTransformer } from '../models/transformer.js';
import { weightShapes } from '../models/config.js';
import { writeSafetensors } from '../models/safetensors.js';
import { UserError } from '../errors.js';
import { makeDirectories, writeFileAtomically } from '../files.js';

export type WeightsFormat = 'tfjs' | 'safetensors';

/**
 * Writes the run's model with a configuration's levels stitched in, in the model's own format: a
 * LayersModel directory (`tfjs`: model.json + one shard) or a Hugging Face directory
 * (`safetensors`: config.json, model.safetensors, tokenizer.json). Returns the files written.
 */
export function exportWeights(runId: string, experiment: Experiment, genome: Genome, format: WeightsFormat, outDir: string): string[] {
  const spec = experiment.fitness;
  if (!('database' in spec)) throw new UserError(`--format ${format}: run "${runId}" searched no level database (fitness ${spec.type}), so it has no weights to export`);
  const isLayers = isLayersModelDir(spec.model);
  if ((format === 'tfjs') !== isLayers) {
    throw new UserError(`--format ${format}: run "${runId}" compresses a ${isLayers ? 'TensorFlow.js LayersModel (use --format tfjs)' : 'Hugging Face transformer (use --format safetensors)'}`);
  }
  const manifest = readManifest(spec.database);
  makeDirectories(outDir);
  if (format === 'tfjs') {
    const files = readLayersModel(spec.model);
    const stitcher = layersModelStitcher(spec.database, manifest, files, 256);
    const data = new Uint8Array(files.weightData.slice(0));
    const offsets = new Map<string, number>();
    let offset = 0;
    for (const w of files.weightSpecs) {
      offsets.set(w.name, offset);
      offset += 4 * w.shape.reduce((a, b) => a * b, 1);
    }
    for (const [name, values] of stitcher.stitch(genome)) data.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), offsets.get(name)!);
    const shard = 'group1-shard1of1.bin';
    // The shard first, model.json (what loaders open) last.
    writeFileAtomically(join(outDir, shard), (path) => writeFileSync(path, data));
    const modelJson = {
      format: 'layers-model',
      generatedBy: `evosearch run ${runId}`,
      convertedBy: null,
      modelTopology: files.modelTopology,
      weightsManifest: [{ paths: [shard], weights: files.weightSpecs }],
      userDefinedMetadata: { evosearch: { run: runId, units: manifest.units.map((u, i) => ({ name: u.name, value: u.levels[genome[i]].value })) } },
    };
    writeFileAtomically(join(outDir, 'model.json'), (path) => writeFileSync(path, JSON.stringify(modelJson)));
    return [join(outDir, 'model.json'), join(outDir, shard)];
  }
  const model = loadTransformer(spec.model);
  const stitcher = transformerStitcher(spec.database, manifest, model, 256);
  for (const [name, values] of stitcher.stitch(genome)) model.weights.set(name, values);
  const shapes = weightShapes(model.config);
  const tensors = Object.fromEntries([...shapes].map(([name, shape]) => [name, { shape, data: model.weights.get(name)! }]));
  writeFileAtomically(join(outDir, 'model.safetensors'), (path) => writeSafetensors(path, tensors, { format: 'pt', evosearch_run: runId }));
  const written = [join(outDir, 'model.safetensors')];
  for (const f of ['config.json', 'tokenizer.json']) {
    if (!existsSync(join(spec.model, f))) continue;
    writeFileAtomically(join(outDir, f), (path) => copyFileSync(join(spec.model, f), path));
    written.push(join(outDir, f));
  }
  return written;
}
