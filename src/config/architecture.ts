import { join, resolve, dirname } from 'node:path';
import { UserError } from '../errors.js';
import { UnreadableFile, validate } from '../validation.js';
import type { Space, Unit } from '../space/space.js';
import { DTYPE_BYTES, convUnits, parseSize, transformerUnits, type Architecture, type Dtype, type TransformerArchitecture, type TransformerGenes } from '../space/architecture.js';
import { readLayersModel } from '../models/layers-model.js';
import { architectureSpaceSchema, type ArchitectureSpaceInput } from '../space/architecture-schema.js';
import { readTransformerConfig, weightShapes } from '../models/config.js';
import { modelHash } from '../compress/hashing.js';

const parameterCount = (shapes: Map<string, number[]>) => [...shapes.values()].reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);

/**
 * An architecture space with its teacher resolved: the teacher's vocabulary and context fix the
 * students' embeddings, its parameter count makes a fractional budget absolute, and its hash is
 * recorded so that a run never goes on against another teacher.
 */
export async function resolveArchitectureSpace(raw: unknown, file: string, prefix: (string | number)[]): Promise<Space> {
  const input = validate(architectureSpaceSchema, raw, file, prefix);
  const spec = input.architecture;
  const teacherDir = resolve(dirname(file), spec.teacher);
  const field = (...path: string[]) => [...prefix, ...path].join('.');
  try {
    return await resolveWithTeacher(input, teacherDir, file, field);
  } catch (err) {
    // A teacher that cannot be read is the experiment's mistake: its `teacher` names it.
    if (err instanceof UnreadableFile) throw new UserError(`${file}: ${field('architecture', 'teacher')}: cannot read ${err.what} ${err.file} (${err.reason})`);
    throw err;
  }
}

async function resolveWithTeacher(input: ArchitectureSpaceInput, teacherDir: string, file: string, field: (...path: string[]) => string): Promise<Space> {
  const spec = input.architecture;
  let architecture: Architecture;
  let units: Unit[];
  if (spec.family === 'cnn') {
    const files = readLayersModel(teacherDir);
    const parameters = files.weightSpecs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1), 0);
    architecture = { family: 'cnn', inputSize: 28, inputChannels: 1, classes: 10, dtype: spec.dtype, maxStages: Math.max(...spec.stages), teacher: { path: teacherDir, sha256: await modelHash(teacherDir), parameters } };
    units = convUnits(spec);
  } else {
    ({ architecture, units } = await transformerArchitecture(spec, teacherDir, file, field));
  }
  // A fraction is of the teacher's size in the students' dtype: "1/10" means a tenth of its parameters.
  const total = parseSize(input.budget.atMost, architecture.teacher.parameters * DTYPE_BYTES[spec.dtype]);
  if (total === null) {
    throw new UserError(`${file}: ${field('budget', 'atMost')}: expected a size such as "3 MB", "512 KiB" or 3000000 (bytes), or a fraction of the teacher such as "1/10", got ${JSON.stringify(input.budget.atMost)}`);
  }
  return { units, budget: { mode: 'atMost', total }, architecture };
}

async function transformerArchitecture(spec: TransformerGenes & { dtype: Dtype; elastic: boolean }, teacherDir: string, file: string, field: (...path: string[]) => string): Promise<{ architecture: TransformerArchitecture; units: Unit[] }> {
  const teacherConfig = readTransformerConfig(join(teacherDir, 'config.json'));
  if (teacherConfig.family !== 'gpt2') throw new UserError(`${file}: ${field('architecture', 'teacher')}: expected a GPT-2 teacher, got a ${teacherConfig.family} model`);
  const parameters = parameterCount(weightShapes(teacherConfig));
  const architecture: TransformerArchitecture = {
    family: 'gpt2',
    vocabSize: teacherConfig.vocabSize,
    context: teacherConfig.contextLength,
    dtype: spec.dtype,
    elastic: spec.elastic,
    teacher: { path: teacherDir, sha256: await modelHash(teacherDir), parameters },
  };
  return { architecture, units: transformerUnits(spec, spec.elastic) };
}
