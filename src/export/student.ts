import type * as TF from '@tensorflow/tfjs';
import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Experiment } from '../engine/experiment.js';
import type { Genome } from '../space/space.js';
import { transformerShape } from '../space/architecture.js';
import { weightShapes, type TransformerConfig } from '../models/config.js';
import type { Weights } from '../models/transformer.js';
import { writeSafetensors } from '../models/safetensors.js';
import { studentConfig, studentHfConfig } from '../fitness/distill.js';
import { cnnLayersModel, type CnnShape } from '../models/cnn-training.js';
import { saveLayersModel } from '../models/layers-model.js';
import { UserError } from '../errors.js';
import { makeDirectories, writeFileAtomically } from '../files.js';

/** The GPT-2 config of a run's student, refusing runs that searched no transformer architecture. */
export function runStudentConfig(runId: string, experiment: Experiment, genome: Genome): TransformerConfig {
  const arch = experiment.space.architecture;
  if (!arch || arch.family !== 'gpt2') throw new UserError(`--format hf-config: run "${runId}" did not search a GPT-2 student architecture`);
  return studentConfig(arch, transformerShape(arch, experiment.space.units, genome));
}

/**
 * Writes a student as a Hugging Face directory that the model loader (and `db build`) accepts:
 * config.json, the teacher's tokenizer.json, and model.safetensors when it was trained. Returns
 * the files written; model.safetensors comes before config.json, so a directory with a config
 * never lacks the weights it announces.
 */
export function writeStudent(outDir: string, config: TransformerConfig, teacherDir: string, weights: Weights | null, runId: string): string[] {
  makeDirectories(outDir);
  const written: string[] = [];
  if (weights) {
    const tensors = Object.fromEntries([...weightShapes(config)].map(([name, shape]) => [name, { shape, data: weights.get(name)! }]));
    writeFileAtomically(join(outDir, 'model.safetensors'), (path) => writeSafetensors(path, tensors, { format: 'pt', evosearch_run: runId }));
    written.push(join(outDir, 'model.safetensors'));
  }
  if (existsSync(join(teacherDir, 'tokenizer.json'))) {
    writeFileAtomically(join(outDir, 'tokenizer.json'), (path) => copyFileSync(join(teacherDir, 'tokenizer.json'), path));
    written.push(join(outDir, 'tokenizer.json'));
  }
  writeFileAtomically(join(outDir, 'config.json'), (path) => writeFileSync(path, JSON.stringify(studentHfConfig(config), null, 2) + '\n'));
  written.push(join(outDir, 'config.json'));
  return written;
}

/** Writes a trained CNN student as a LayersModel directory (model.json and its weights); returns the directory. */
export async function writeCnnStudent(tf: typeof TF, outDir: string, shape: CnnShape, weights: Map<string, Float32Array>): Promise<string> {
  const model = cnnLayersModel(tf, shape, weights);
  await saveLayersModel(tf, model, outDir);
  model.dispose();
  return join(outDir, 'model.json');
}
