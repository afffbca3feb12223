import { join, resolve, dirname } from 'node:path';
import { UserError } from '../errors.js';
import { validate } from '../validation.js';
import type { Space } from '../space/space.js';
import { DTYPE_BYTES, parseSize, transformerUnits, type TransformerArchitecture } from '../space/architecture.js';
import { architectureSpaceSchema } from '../space/architecture-schema.js';
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
  const teacherConfig = readTransformerConfig(join(teacherDir, 'config.json'));
  if (teacherConfig.family !== 'gpt2') throw new UserError(`${file}: ${[...prefix, 'architecture', 'teacher'].join('.')}: expected a GPT-2 teacher, got a ${teacherConfig.family} model`);
  const parameters = parameterCount(weightShapes(teacherConfig));
  const architecture: TransformerArchitecture = {
    family: 'gpt2',
    vocabSize: teacherConfig.vocabSize,
    context: teacherConfig.contextLength,
    dtype: spec.dtype,
    elastic: false,
    teacher: { path: teacherDir, sha256: await modelHash(teacherDir), parameters },
  };
  // A fraction is of the teacher's size in the students' dtype: "1/10" means a tenth of its parameters.
  const total = parseSize(input.budget.atMost, parameters * DTYPE_BYTES[spec.dtype]);
  if (total === null) {
    throw new UserError(`${file}: ${[...prefix, 'budget', 'atMost'].join('.')}: expected a size such as "3 MB", "512 KiB" or 3000000 (bytes), or a fraction of the teacher such as "1/10", got ${JSON.stringify(input.budget.atMost)}`);
  }
  return { units: transformerUnits(spec, false), budget: { mode: 'atMost', total }, architecture };
}
