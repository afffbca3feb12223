import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { SpaceIndex, costRange, type Genome, type Space } from '../src/space/space.js';
import { DTYPE_BYTES, convUnits, parseSize, transformerFlops, transformerParameters, transformerShape, transformerUnits, type TransformerArchitecture } from '../src/space/architecture.js';
import { readTransformerConfig, weightShapes } from '../src/models/config.js';
import { initParams } from '../src/models/gpt2-training.js';
import { studentConfig } from '../src/fitness/distill.js';
import { cnnShapeOf } from '../src/fitness/train.js';
import { cnnWeightShapes, initCnnParams } from '../src/models/cnn-training.js';
import type { ConvArchitecture } from '../src/space/architecture.js';
import { levelSwitch, pointMutation } from '../src/strategies/operators.js';
import { Rng } from '../src/rng/rng.js';
import { ROOT, cli, expectOneLineError, tempDir } from './cli-helpers.js';

const genes = { blocks: [1, 2, 3, 4], width: [16, 32, 48, 64], heads: [1, 2, 4], mlpWidth: [32, 64, 128, 256] };

function gpt2Space(budget: number, dtype: TransformerArchitecture['dtype'] = 'float32', elastic = false): Space {
  const architecture: TransformerArchitecture = { family: 'gpt2', vocabSize: 85, context: 128, dtype, elastic, teacher: { path: '/nowhere', sha256: '0', parameters: 1_271_520 } };
  return { units: transformerUnits(genes, elastic), budget: { mode: 'atMost', total: budget }, architecture };
}

/** Every genome of a space: the product of its units' levels. */
function allGenomes(space: Space): Genome[] {
  return space.units.reduce<Genome[]>((acc, u) => acc.flatMap((g) => u.levels.map((_, l) => [...g, l])), [[]]);
}

describe('architecture spaces', () => {
  it('cost the parameters of the student actually built, times the dtype bytes', () => {
    for (const dtype of ['float32', 'float16', 'int8'] as const) {
      const space = gpt2Space(1e12, dtype);
      const index = new SpaceIndex(space);
      const arch = space.architecture as TransformerArchitecture;
      for (const genome of allGenomes(space).filter((_, i) => i % 7 === 0)) {
        const config = studentConfig(arch, transformerShape(arch, space.units, genome));
        const rng = Rng.fromSeed('init');
        const params = initParams(tf, config, () => rng.normal());
        const built = [...params.values()].reduce((s, v) => s + v.size, 0);
        tf.dispose([...params.values()]);
        expect(built).toBe([...weightShapes(config).values()].reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0));
        expect(index.cost(genome)).toBe(built * DTYPE_BYTES[dtype]);
      }
    }
  });

  it('cost a CNN student as the parameters of the network built, whatever its depth', () => {
    const conv = { stages: [1, 2, 3, 4], channels: [4, 8, 16], kernels: [3, 5], dense: [8, 32] };
    const architecture: ConvArchitecture = { family: 'cnn', inputSize: 28, inputChannels: 1, classes: 10, dtype: 'float16', maxStages: 4, teacher: { path: '/nowhere', sha256: '0', parameters: 42_122 } };
    const space: Space = { units: convUnits(conv), budget: { mode: 'atMost', total: 1e12 }, architecture };
    const index = new SpaceIndex(space);
    const genomes = allGenomes(space).filter((_, i) => i % 97 === 0);
    expect(genomes.length).toBeGreaterThan(30);
    for (const genome of genomes) {
      const shape = cnnShapeOf(architecture, space.units, genome);
      const rng = Rng.fromSeed('cnn');
      const params = initCnnParams(tf, shape, () => rng.normal());
      const built = [...params.values()].reduce((s, v) => s + v.size, 0);
      tf.dispose([...params.values()]);
      expect(built).toBe([...cnnWeightShapes(shape).values()].reduce((s, d) => s + d.reduce((a, b) => a * b, 1), 0));
      expect(index.cost(genome)).toBe(built * 2);
    }
    // A fourth pooling stage shrinks the dense layer's input from 3 × 3 to 1 × 1: depth is not monotone in cost.
    const costs = allGenomes(space).map((g) => index.cost(g));
    expect(costRange(space)).toEqual({ min: Math.min(...costs), max: Math.max(...costs) });
  });

  it('cost an elastic student (heads and MLP width per block) as the model built, unused blocks costing nothing', () => {
    const space = gpt2Space(1e12, 'float32', true);
    expect(space.units.map((u) => u.name)).toEqual(['blocks', 'width', 'heads.0', 'heads.1', 'heads.2', 'heads.3', 'mlpWidth.0', 'mlpWidth.1', 'mlpWidth.2', 'mlpWidth.3']);
    const index = new SpaceIndex(space);
    const arch = space.architecture as TransformerArchitecture;
    const rng = Rng.fromSeed('elastic');
    for (let k = 0; k < 40; k++) {
      const genome = space.units.map((u) => rng.int(0, u.levels.length - 1));
      genome[0] = k % 3; // 1–3 blocks of the 4 possible: block 3's genes are unused
      const config = studentConfig(arch, transformerShape(arch, space.units, genome));
      const count = [...weightShapes(config).values()].reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);
      expect(index.cost(genome)).toBe(4 * count);
      // The genes of blocks beyond the block count change nothing.
      const unused = genome.slice();
      unused[2 + 3] = (unused[2 + 3] + 1) % genes.heads.length;
      unused[6 + 3] = (unused[6 + 3] + 1) % genes.mlpWidth.length;
      expect(index.cost(unused)).toBe(index.cost(genome));
      expect(transformerShape(arch, space.units, unused)).toEqual(transformerShape(arch, space.units, genome));
    }
  });

  it('give the reference model its own parameter count', () => {
    // The checked-in teacher: 4 blocks of width 160, 4 heads, MLP 640, 85 characters, context 128.
    expect(transformerParameters({ vocabSize: 85, context: 128 }, { blocks: 4, width: 160, heads: [4, 4, 4, 4], mlpWidth: [640, 640, 640, 640] })).toBe(1_271_520);
  });

  it('count forward FLOPs per token: projections, attention at the mean causal context, and the LM head', () => {
    const shape = { blocks: 2, width: 64, heads: [4, 4], mlpWidth: [256, 256] };
    const perBlock = 2 * (64 * 192 + 64 * 64 + 64 * 256 + 256 * 64) + 2 * 2 * 64 * ((128 + 1) / 2);
    expect(transformerFlops({ vocabSize: 85, context: 128 }, shape)).toBe(2 * perBlock + 2 * 85 * 64);
  });

  it('read sizes as bytes or as a fraction of the teacher', () => {
    expect(parseSize('3 MB', 1000)).toBe(3e6);
    expect(parseSize('512 KiB', 1000)).toBe(512 * 1024);
    expect(parseSize('1/10', 5_000_000)).toBe(500_000);
    expect(parseSize('0.25', 4000)).toBe(1000);
    expect(parseSize(123456, 1)).toBe(123456);
    for (const bad of ['three MB', '1/0', '-2 MB', '0', '']) expect(parseSize(bad, 1000), bad).toBeNull();
  });

  it('find their exact cost range although depth is not monotone in general', () => {
    const space = gpt2Space(1e12);
    const costs = allGenomes(space).map((g) => new SpaceIndex(space).cost(g));
    expect(costRange(space)).toEqual({ min: Math.min(...costs), max: Math.max(...costs) });
  });

  it('keep every mutated and switched student inside the size budget', () => {
    const space = gpt2Space(200_000);
    const index = new SpaceIndex(space);
    const rng = Rng.fromSeed('ops');
    const start = index.uniform()!;
    expect(index.isFeasible(start)).toBe(true);
    let switched = 0;
    for (let k = 0; k < 500; k++) {
      const child = start.slice();
      pointMutation(index, child, rng, 0.5);
      expect(index.repair(child, rng, false)).toBe(true);
      expect(index.isFeasible(child)).toBe(true);
      const moved = levelSwitch(index, child, rng, 3);
      if (moved) {
        switched++;
        expect(index.isFeasible(moved)).toBe(true);
      }
    }
    expect(switched).toBeGreaterThan(100);
  });
});

describe('architecture experiments', () => {
  const teacher = join(ROOT, 'models', 'reference-lm');

  function experiment(dir: string, space: Record<string, unknown>, strategy: Record<string, unknown> = { type: 'genetic', generations: 40, population: 24 }): string {
    const file = join(dir, 'experiment.json');
    writeFileSync(file, JSON.stringify({ name: 'students', seed: 3, space, strategy, fitness: { type: 'flops' } }));
    return file;
  }

  const architecture = { family: 'gpt2', teacher, ...genes };

  it('pick the largest-FLOPs student in the budget (Compressor) as a brute force does', () => {
    const dir = tempDir();
    const file = experiment(dir, { architecture, budget: { atMost: '1/10' } });
    const r = cli(['run', file, '--db', join(dir, 'r.db'), '--run-id', 'r', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const best = JSON.parse(cli(['export', 'r', '--db', join(dir, 'r.db')]).stdout);
    const arch = { vocabSize: 85, context: 128 };
    let optimum = 0;
    for (const blocks of genes.blocks) for (const width of genes.width) for (const m of genes.mlpWidth) {
      const shape = { blocks, width, heads: Array(blocks).fill(1), mlpWidth: Array(blocks).fill(m) };
      if (transformerParameters(arch, shape) * 4 <= 0.1 * 1_271_520 * 4) optimum = Math.max(optimum, transformerFlops(arch, shape));
    }
    expect(best.fitness).toBe(optimum);
    expect(best.cost).toBeLessThanOrEqual(0.1 * 1_271_520 * 4);
    expect(best.architecture.parameters * 4).toBe(best.cost);
    expect(best.units.map((u: { name: string }) => u.name)).toEqual(['blocks', 'width', 'heads', 'mlpWidth']);
    // The student's config is one the loader reads.
    const out = join(dir, 'student');
    const e = cli(['export', 'r', '--db', join(dir, 'r.db'), '--format', 'hf-config', '--out', out]);
    expect(e.code, e.stderr).toBe(0);
    const written = readTransformerConfig(join(out, 'config.json'));
    expect([written.nLayers, written.dModel, written.nHeads, written.dFf]).toEqual(best.units.map((u: { value: number }) => u.value));
    expect(written.vocabSize).toBe(85);
  });

  it('refuse at start, in one line naming the field, what cannot be searched', () => {
    const dir = tempDir();
    const run = (space: Record<string, unknown>) => cli(['run', experiment(dir, space), '--db', join(dir, 'x.db')]);
    expectOneLineError(run({ architecture: { ...architecture, heads: [1, 3] }, budget: { atMost: '1/10' } }), /space\.architecture\.heads: expected head counts that divide every width: width 16 is not a multiple of 3 heads/);
    expectOneLineError(run({ architecture: { ...architecture, width: [] }, budget: { atMost: '1/10' } }), /space\.architecture\.width: expected at least one width/);
    expectOneLineError(run({ architecture: { ...architecture, blocks: [2, 0] }, budget: { atMost: '1/10' } }), /space\.architecture\.blocks\[1\]: expected block count ≥ 1 \(got 0\)/);
    expectOneLineError(run({ architecture, budget: { atMost: 'a tenth' } }), /space\.budget\.atMost: expected a size such as "3 MB"/);
    expectOneLineError(run({ architecture, budget: { atMost: '10 KB' } }), /space\.budget: no configuration can meet the budget: the cheapest configuration costs 22656 \(5664 parameters × 4 bytes\), above the budget ≤ 10000/);
    expectOneLineError(run({ architecture: { ...architecture, teacher: 'nowhere' }, budget: { atMost: '1/10' } }), /space\.architecture\.teacher: cannot read model config .*nowhere\/config\.json \(no such file\)/);
    const cnn = { family: 'cnn', teacher: join(ROOT, 'models', 'fashion-cnn'), stages: [1, 2], channels: [4, 8], kernels: [3, 5], dense: [16] };
    expectOneLineError(run({ architecture: { ...cnn, kernels: [3, 4] }, budget: { atMost: '1/4' } }), /space\.architecture\.kernels: expected odd kernel sizes/);
    expectOneLineError(run({ architecture: { ...cnn, stages: [2, 5] }, budget: { atMost: '1/4' } }), /space\.architecture\.stages: expected at most 4 stages/);
    expectOneLineError(run({ architecture: { ...cnn, family: 'rnn' }, budget: { atMost: '1/4' } }), /space\.architecture\.family/);
    // The per-layer baselines allocate levels under an additive cost; a student's size is not one.
    const space = { architecture, budget: { atMost: '1/10' } };
    expectOneLineError(cli(['run', experiment(dir, space, { type: 'dp' }), '--db', join(dir, 'x.db')]), /experiment\.json: strategy\.type: dp allocates levels under an additive cost/);
    expectOneLineError(cli(['baseline', 'dp', experiment(dir, space), '--db', join(dir, 'x.db')]), /experiment\.json: space: dp allocates levels under an additive cost/);
  });
});
