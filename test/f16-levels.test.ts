import { describe, expect, it } from 'vitest';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, cli, expectOneLineError, tempDir } from './cli-helpers.js';
import { f16ToFloat, floatToF16Bits, readSafetensors } from '../src/models/safetensors.js';
import { buildDatabase } from '../src/compress/build.js';
import { loadDatabaseConfig } from '../src/compress/config.js';
import { databaseIdentity, readLevel } from '../src/compress/manifest.js';
import { weightShapes } from '../src/models/config.js';
import { loadTransformer } from '../src/models/transformer.js';

const MODEL_DIR = join(ROOT, 'models', 'reference-lm');

describe('float16 level databases ("dtype": "f16")', () => {
  it('rounds float32 to the nearest float16, ties to even, with subnormals, infinities and signed zeros', () => {
    expect(floatToF16Bits(1)).toBe(0x3c00);
    expect(floatToF16Bits(-2)).toBe(0xc000);
    expect(floatToF16Bits(65504)).toBe(0x7bff);
    expect(floatToF16Bits(65520)).toBe(0x7c00); // halfway to the next power: rounds up, to infinity
    expect(floatToF16Bits(1e-8)).toBe(0);
    expect(floatToF16Bits(-0)).toBe(0x8000);
    expect(floatToF16Bits(2 ** -24)).toBe(0x0001);
    expect(floatToF16Bits(Infinity)).toBe(0x7c00);
    expect(Number.isNaN(f16ToFloat(floatToF16Bits(NaN)))).toBe(true);
    // Every finite float16 comes back to itself, and the midpoint between two neighbours goes to the even one.
    for (let h = 0; h < 0x7c00; h++) {
      for (const sign of [0, 0x8000]) expect(floatToF16Bits(f16ToFloat(h | sign))).toBe(h | sign);
      if (h === 0x7bff) continue;
      // Exact in float32: neighbouring float16s differ in their 11th significant bit at most.
      const mid = (f16ToFloat(h) + f16ToFloat(h + 1)) / 2;
      expect(Math.fround(mid)).toBe(mid);
      expect(floatToF16Bits(mid)).toBe(h % 2 === 0 ? h : h + 1);
    }
  });

  it('stores every level as the float16 rounding of the float32 database\'s, in half the bytes, under another identity', async () => {
    const dir = tempDir();
    const build = async (name: string, dtype?: string) => {
      const file = join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify({ model: MODEL_DIR, out: name, ...(dtype && { dtype }), compression: { type: 'sparsity', method: 'magnitude', target: 0.5, stepsEachSide: 2 } }));
      return { ...(await buildDatabase(loadDatabaseConfig(file))), dir: join(dir, name) };
    };
    const plain = await build('plain');
    const f32 = await build('f32', 'f32');
    const f16 = await build('f16', 'f16');
    // Saying f32 changes nothing: databases built before `dtype` keep their identity.
    expect(databaseIdentity(f32.manifest)).toBe(databaseIdentity(plain.manifest));
    expect(databaseIdentity(f16.manifest)).not.toBe(databaseIdentity(f32.manifest));
    expect(f16.manifest.dtype).toBe('f16');
    const shapes = weightShapes(loadTransformer(MODEL_DIR).config);
    f16.manifest.units.forEach((unit, i) => {
      const header = readSafetensors(join(f16.dir, unit.file!));
      expect([...header.tensors.values()].every((t) => t.dtype === 'F16')).toBe(true);
      const ratio = statSync(join(f16.dir, unit.file!)).size / statSync(join(f32.dir, f32.manifest.units[i].file!)).size;
      expect(ratio).toBeGreaterThan(0.49);
      expect(ratio).toBeLessThan(0.51);
      const shape = shapes.get(unit.weights[0])!;
      unit.levels.forEach((_, level) => {
        const full = readLevel(f32.dir, f32.manifest, i, level, shape);
        const half = readLevel(f16.dir, f16.manifest, i, level, shape);
        expect(Array.from(half)).toEqual(Array.from(full, (x) => f16ToFloat(floatToF16Bits(x))));
      });
    });
  });

  it('refuses an unknown dtype in one line', () => {
    const dir = tempDir();
    const file = join(dir, 'db.json');
    writeFileSync(file, JSON.stringify({ model: MODEL_DIR, out: 'db', dtype: 'bf16', compression: { type: 'sparsity', method: 'magnitude', target: 0.5 } }));
    expectOneLineError(cli(['db', 'build', file]), /db\.json: dtype: .*"f32".*"f16"/);
  });
});
