import { closeSync, fstatSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { UserError } from '../errors.js';

/**
 * The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {...}}, then the raw
 * little-endian tensor bytes. No maintained Node reader exists on npm (the `safetensors` package
 * is a 0.0.x placeholder), and the format is small enough to read and check here in full.
 */
export type DType = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64' | 'U8';

export interface TensorEntry {
  dtype: DType;
  shape: number[];
  /** The raw bytes, a view into the file's buffer. */
  bytes: Uint8Array;
}

export interface SafeTensors {
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

const BYTES: Record<DType, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, U8: 1 };

export function readSafetensors(file: string): SafeTensors {
  let buffer: Buffer;
  try {
    buffer = readFileSync(file);
  } catch (err) {
    throw new UserError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code})`);
  }
  return parseSafetensors(buffer, file);
}

export function parseSafetensors(buffer: Uint8Array, file: string): SafeTensors {
  if (buffer.byteLength < 8) invalid(file, 'shorter than its 8-byte header length');
  const headerLength = Number(new DataView(buffer.buffer, buffer.byteOffset, 8).getBigUint64(0, true));
  if (headerLength > buffer.byteLength - 8) invalid(file, `header length ${headerLength} exceeds the file`);
  const { entries, metadata } = parseHeader(buffer.subarray(8, 8 + headerLength), buffer.byteLength, file);
  const tensors = new Map<string, TensorEntry>();
  for (const [name, { dtype, shape, start, end }] of entries) tensors.set(name, { dtype, shape, bytes: buffer.subarray(start, end) });
  return { tensors, metadata };
}

/**
 * One tensor of a file, reading only its header and that tensor's bytes: a level database holds
 * every level of a layer in one file, and a worker needs only the levels its candidates use.
 */
export function readTensor(file: string, name: string, shape: number[]): Float32Array {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new UserError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code})`);
  }
  try {
    const size = fstatSync(fd).size;
    const read = (length: number, position: number) => {
      const out = Buffer.alloc(length);
      if (readSync(fd, out, 0, length, position) !== length) invalid(file, 'shorter than its header says');
      return out;
    };
    if (size < 8) invalid(file, 'shorter than its 8-byte header length');
    const headerLength = Number(read(8, 0).readBigUInt64LE(0));
    if (headerLength > size - 8) invalid(file, `header length ${headerLength} exceeds the file`);
    const { entries } = parseHeader(read(headerLength, 8), size, file);
    const entry = entries.get(name);
    if (!entry) throw new UserError(`${file}: tensor "${name}" is missing`);
    const bytes = new Uint8Array(read(entry.end - entry.start, entry.start));
    return float32({ tensors: new Map([[name, { dtype: entry.dtype, shape: entry.shape, bytes }]]), metadata: {} }, name, shape, file);
  } finally {
    closeSync(fd);
  }
}

function invalid(file: string, what: string): never {
  throw new UserError(`${file}: not a valid safetensors file: ${what}`);
}

/** The JSON header, checked: every tensor's dtype, shape and byte range (absolute, in a file of `size` bytes). */
function parseHeader(headerBytes: Uint8Array, size: number, file: string) {
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(headerBytes).toString('utf8'));
  } catch {
    return invalid(file, 'the header is not JSON');
  }
  const dataStart = 8 + headerBytes.byteLength;
  const entries = new Map<string, { dtype: DType; shape: number[]; start: number; end: number }>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = raw as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = raw as { dtype: DType; shape: number[]; data_offsets: [number, number] };
    if (!(dtype in BYTES)) invalid(file, `tensor "${name}" has dtype ${JSON.stringify(dtype)}, expected one of ${Object.keys(BYTES).join(', ')}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) invalid(file, `tensor "${name}" has shape ${JSON.stringify(shape)}`);
    const [begin, end] = offsets ?? [];
    const expected = shape.reduce((a, b) => a * b, 1) * BYTES[dtype];
    if (!(Number.isInteger(begin) && Number.isInteger(end) && end - begin === expected && dataStart + end <= size)) {
      invalid(file, `tensor "${name}" (${dtype} ${JSON.stringify(shape)}) needs ${expected} bytes, its offsets ${JSON.stringify(offsets)} do not fit`);
    }
    entries.set(name, { dtype, shape, start: dataStart + begin, end: dataStart + end });
  }
  return { entries, metadata };
}

/** A float32 copy of a tensor (F32, F16 and BF16 are converted), checked against the expected shape. */
export function float32(st: SafeTensors, name: string, shape: number[], file: string): Float32Array {
  const t = st.tensors.get(name);
  if (!t) throw new UserError(`${file}: tensor "${name}" is missing`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new UserError(`${file}: tensor "${name}" has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  const n = shape.reduce((a, b) => a * b, 1);
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const out = new Float32Array(n);
  switch (t.dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    case 'BF16':
      for (let i = 0; i < n; i++) out[i] = bf16ToFloat(view.getUint16(2 * i, true));
      return out;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = f16ToFloat(view.getUint16(2 * i, true));
      return out;
    default:
      throw new UserError(`${file}: tensor "${name}" has dtype ${t.dtype}, expected F32, F16 or BF16`);
  }
}

/**
 * Writes float32 tensors in the order given (the format sorts nothing; readers use the offsets),
 * stored as F32, or as F16 rounded to nearest even (values past ±65504 become ±infinity: callers
 * that store F16 check the range first).
 */
export function writeSafetensors(file: string, tensors: Record<string, { shape: number[]; data: Float32Array }>, metadata: Record<string, string> = {}, dtype: 'F32' | 'F16' = 'F32'): void {
  const header: Record<string, unknown> = Object.keys(metadata).length ? { __metadata__: metadata } : {};
  const width = BYTES[dtype];
  let offset = 0;
  for (const [name, { shape, data }] of Object.entries(tensors)) {
    if (data.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`writeSafetensors: "${name}" has ${data.length} values for shape [${shape}]`);
    header[name] = { dtype, shape, data_offsets: [offset, offset + width * data.length] };
    offset += width * data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // keeps tensor data 8-byte aligned
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let at = 8 + headerBytes.length;
  for (const { data } of Object.values(tensors)) {
    const le = new DataView(out.buffer, out.byteOffset + at, width * data.length);
    if (dtype === 'F32') for (let i = 0; i < data.length; i++) le.setFloat32(4 * i, data[i], true);
    else for (let i = 0; i < data.length; i++) le.setUint16(2 * i, floatToF16Bits(data[i]), true);
    at += width * data.length;
  }
  writeFileSync(file, out);
}

function bf16ToFloat(bits: number): number {
  const buf = new DataView(new ArrayBuffer(4));
  buf.setUint32(0, bits << 16);
  return buf.getFloat32(0);
}

/** The largest finite float16. */
export const F16_MAX = 65504;

const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);

/** IEEE half-precision bits of a float32, rounded to nearest even; subnormals kept, overflow to infinity. */
export function floatToF16Bits(x: number): number {
  f32[0] = x;
  const b = f32Bits[0];
  const sign = (b >>> 16) & 0x8000;
  const exponent = (b >>> 23) & 0xff;
  let mantissa = b & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  let shift = 13;
  let half: number;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    shift = 14 - e;
    half = mantissa >>> shift;
  } else {
    half = (e << 10) | (mantissa >>> 13);
  }
  const rest = mantissa & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  // A carry out of the mantissa lands in the exponent, which is the right rounding too.
  if (rest > halfway || (rest === halfway && half & 1)) half++;
  return sign | half;
}

export function f16ToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
