import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { float32, readSafetensors, writeSafetensors } from '../src/models/safetensors.js';
import { tempDir } from './cli-helpers.js';

describe('safetensors', () => {
  const dir = tempDir();
  const file = join(dir, 'model.safetensors');
  const w = Float32Array.from({ length: 6 }, (_, i) => i - 2.5);
  const b = Float32Array.from([0.125, -1e-3]);
  writeSafetensors(file, { 'h.0.w': { shape: [3, 2], data: w }, 'h.0.b': { shape: [2], data: b } }, { format: 'pt' });

  it('round-trips float32 tensors and metadata, with 8-byte aligned data', () => {
    const st = readSafetensors(file);
    expect(st.metadata).toEqual({ format: 'pt' });
    expect(float32(st, 'h.0.w', [3, 2], file)).toEqual(w);
    expect(float32(st, 'h.0.b', [2], file)).toEqual(b);
    const headerLength = Number(readFileSync(file).readBigUInt64LE(0));
    expect((8 + headerLength) % 8).toBe(0);
  });

  it('reads BF16 and F16 (as Hugging Face checkpoints store them)', () => {
    const header = JSON.stringify({ a: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] }, b: { dtype: 'F16', shape: [2], data_offsets: [4, 8] } });
    const bytes = Buffer.alloc(8 + header.length + 8);
    bytes.writeBigUInt64LE(BigInt(header.length), 0);
    bytes.write(header, 8);
    const at = 8 + header.length;
    bytes.writeUInt16LE(0x3fc0, at); // bf16 1.5
    bytes.writeUInt16LE(0xc000, at + 2); // bf16 -2
    bytes.writeUInt16LE(0x3c00, at + 4); // f16 1
    bytes.writeUInt16LE(0x3555, at + 6); // f16 ≈ 0.33325
    const f = join(dir, 'half.safetensors');
    writeFileSync(f, bytes);
    const st = readSafetensors(f);
    expect(float32(st, 'a', [2], f)).toEqual(Float32Array.from([1.5, -2]));
    expect(float32(st, 'b', [2], f)[0]).toBe(1);
    expect(float32(st, 'b', [2], f)[1]).toBeCloseTo(1 / 3, 3);
  });

  it('names the file and the tensor for a wrong shape, a wrong dtype, a missing tensor and a broken file', () => {
    const st = readSafetensors(file);
    expect(() => float32(st, 'h.0.w', [2, 3], file)).toThrow(/model\.safetensors: tensor "h\.0\.w" has shape \[3, 2\], expected \[2, 3\]/);
    expect(() => float32(st, 'h.1.w', [3, 2], file)).toThrow(/tensor "h\.1\.w" is missing/);
    const broken = join(dir, 'broken.safetensors');
    writeFileSync(broken, readFileSync(file).subarray(0, 40));
    expect(() => readSafetensors(broken)).toThrow(/broken\.safetensors: not a valid safetensors file/);
    const header = JSON.stringify({ x: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } });
    const f64 = Buffer.alloc(8 + header.length + 8);
    f64.writeBigUInt64LE(BigInt(header.length), 0);
    f64.write(header, 8);
    const odd = join(dir, 'f64.safetensors');
    writeFileSync(odd, f64);
    expect(() => readSafetensors(odd)).toThrow(/tensor "x" has dtype "F64", expected one of F32, F16, BF16/);
  });
});
