import type { Genome, Unit } from './space.js';

/**
 * Architecture spaces: the genes are hyper-parameters of a student network and the cost is its
 * parameter bytes, computed analytically (not a sum over genes: width times MLP width is a product).
 * Everything here is plain data and arithmetic, so a space stays JSON and strategies stay pure.
 */

export const DTYPE_BYTES = { float32: 4, float16: 2, bfloat16: 2, int8: 1 } as const;
export type Dtype = keyof typeof DTYPE_BYTES;

/** A GPT-2 student of a character language model: what its cost and FLOPs need, resolved from the teacher. */
export interface TransformerArchitecture {
  family: 'gpt2';
  vocabSize: number;
  context: number;
  dtype: Dtype;
  /** Per-block heads and MLP widths (one gene each) rather than one for all blocks. */
  elastic: boolean;
  /** The teacher the students learn from and whose size a fractional budget refers to. */
  teacher: { path: string; sha256: string; parameters: number };
}

/** A convolutional student of the clothing classifier. */
export interface ConvArchitecture {
  family: 'cnn';
  /** Input pictures: height = width, channels. */
  inputSize: number;
  inputChannels: number;
  classes: number;
  dtype: Dtype;
  /** Stages (conv + ReLU + 2×2 max-pool); a stage beyond `stages` is unused. */
  maxStages: number;
  teacher: { path: string; sha256: string; parameters: number };
}

export type Architecture = TransformerArchitecture | ConvArchitecture;

/** A decoded GPT-2 student. heads[b] divides width for every block b. */
export interface TransformerShape {
  blocks: number;
  width: number;
  heads: number[];
  mlpWidth: number[];
}

/** A decoded CNN student: per stage, channels and kernel size; then one hidden dense layer. */
export interface ConvShape {
  channels: number[];
  kernels: number[];
  dense: number;
}

/** The gene lists of a GPT-2 student space, as the user writes them. */
export interface TransformerGenes {
  blocks: number[];
  width: number[];
  heads: number[];
  mlpWidth: number[];
}

export interface ConvGenes {
  stages: number[];
  channels: number[];
  kernels: number[];
  dense: number[];
}

const unit = (name: string, values: number[]): Unit => ({ name, levels: values, cost: values });

/**
 * The units of a GPT-2 student space. A unit's `cost` only orders its levels (bigger value, more
 * parameters); the space's cost is {@link architectureBytes}. Elastic spaces have one heads and one
 * MLP-width gene per possible block; genes of blocks beyond `blocks` are carried but unused.
 */
export function transformerUnits(genes: TransformerGenes, elastic: boolean): Unit[] {
  const perBlock = elastic ? Math.max(...genes.blocks) : 1;
  const suffix = (b: number) => (elastic ? `.${b}` : '');
  return [
    unit('blocks', genes.blocks),
    unit('width', genes.width),
    ...Array.from({ length: perBlock }, (_, b) => unit(`heads${suffix(b)}`, genes.heads)),
    ...Array.from({ length: perBlock }, (_, b) => unit(`mlpWidth${suffix(b)}`, genes.mlpWidth)),
  ];
}

/** The units of a CNN student space: stage count, then channels and kernel per possible stage, then the dense width. */
export function convUnits(genes: ConvGenes): Unit[] {
  const maxStages = Math.max(...genes.stages);
  return [
    unit('stages', genes.stages),
    ...Array.from({ length: maxStages }, (_, s) => unit(`channels.${s}`, genes.channels)),
    ...Array.from({ length: maxStages }, (_, s) => unit(`kernel.${s}`, genes.kernels)),
    unit('dense', genes.dense),
  ];
}

/** The hyper-parameter values a genome picks, by unit: units[i].levels[genome[i]]. */
function values(units: Unit[], genome: Genome): number[] {
  return genome.map((level, i) => units[i].levels[level]);
}

export function transformerShape(arch: TransformerArchitecture, units: Unit[], genome: Genome): TransformerShape {
  const v = values(units, genome);
  const [blocks, width] = v;
  const per = arch.elastic ? (units.length - 2) / 2 : 1;
  const at = (offset: number, b: number) => v[2 + offset * per + (arch.elastic ? b : 0)];
  return {
    blocks,
    width,
    heads: Array.from({ length: blocks }, (_, b) => at(0, b)),
    mlpWidth: Array.from({ length: blocks }, (_, b) => at(1, b)),
  };
}

export function convShape(arch: ConvArchitecture, units: Unit[], genome: Genome): ConvShape {
  const v = values(units, genome);
  const stages = v[0];
  return {
    channels: v.slice(1, 1 + stages),
    kernels: v.slice(1 + arch.maxStages, 1 + arch.maxStages + stages),
    dense: v[1 + 2 * arch.maxStages],
  };
}

/**
 * GPT-2's parameter count (tied LM head): token and position embeddings, per block two LayerNorms,
 * the fused QKV and output projections and the MLP with their biases, and the final LayerNorm.
 * Heads split the width and add no parameters.
 */
export function transformerParameters(arch: Pick<TransformerArchitecture, 'vocabSize' | 'context'>, s: TransformerShape): number {
  const d = s.width;
  let total = arch.vocabSize * d + arch.context * d + 2 * d;
  for (let b = 0; b < s.blocks; b++) {
    const m = s.mlpWidth[b];
    total += 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (d * m + m) + (m * d + d);
  }
  return total;
}

/**
 * Forward FLOPs per token (a multiply-add counts 2), at the mean causal context (context + 1)/2:
 * the block projections, attention's scores and weighted sum, and the LM head. Embedding lookups,
 * normalisation and activations are left out, as Compressor's count leaves them out.
 */
export function transformerFlops(arch: Pick<TransformerArchitecture, 'vocabSize' | 'context'>, s: TransformerShape): number {
  const d = s.width;
  const meanContext = (arch.context + 1) / 2;
  let total = 2 * arch.vocabSize * d;
  for (let b = 0; b < s.blocks; b++) total += 2 * (4 * d * d + 2 * d * s.mlpWidth[b]) + 2 * 2 * d * meanContext;
  return total;
}

/** 'same' convolutions, each stage halving the picture with a 2×2 max-pool; a hidden dense layer, then the classes. */
export function convParameters(arch: ConvArchitecture, s: ConvShape): number {
  let total = 0;
  let channels = arch.inputChannels;
  s.channels.forEach((c, i) => {
    total += s.kernels[i] * s.kernels[i] * channels * c + c;
    channels = c;
  });
  const side = convSide(arch, s.channels.length);
  const flat = side * side * channels;
  return total + flat * s.dense + s.dense + s.dense * arch.classes + arch.classes;
}

/** Forward FLOPs per picture (multiply-add = 2) of the convolutions and dense layers. */
export function convFlops(arch: ConvArchitecture, s: ConvShape): number {
  let total = 0;
  let channels = arch.inputChannels;
  let side = arch.inputSize;
  s.channels.forEach((c, i) => {
    total += 2 * side * side * s.kernels[i] * s.kernels[i] * channels * c;
    channels = c;
    side = Math.floor(side / 2);
  });
  return total + 2 * side * side * channels * s.dense + 2 * s.dense * arch.classes;
}

/** The picture's side after `stages` 2×2 max-pools. */
export function convSide(arch: Pick<ConvArchitecture, 'inputSize'>, stages: number): number {
  let side = arch.inputSize;
  for (let i = 0; i < stages; i++) side = Math.floor(side / 2);
  return side;
}

export function architectureParameters(arch: Architecture, units: Unit[], genome: Genome): number {
  return arch.family === 'gpt2' ? transformerParameters(arch, transformerShape(arch, units, genome)) : convParameters(arch, convShape(arch, units, genome));
}

/** The space's cost: parameters × bytes per parameter of the stated dtype. */
export function architectureBytes(arch: Architecture, units: Unit[], genome: Genome): number {
  return architectureParameters(arch, units, genome) * DTYPE_BYTES[arch.dtype];
}

export function architectureFlops(arch: Architecture, units: Unit[], genome: Genome): number {
  return arch.family === 'gpt2' ? transformerFlops(arch, transformerShape(arch, units, genome)) : convFlops(arch, convShape(arch, units, genome));
}

/**
 * A size budget as users write it: bytes ("3 MB", "512 KiB", 3000000) or a fraction of the
 * teacher ("1/10", "0.25"). MB is 10⁶ bytes, MiB 2²⁰. Null when the text is neither.
 */
export function parseSize(size: string | number, teacherBytes: number): number | null {
  if (typeof size === 'number') return size > 0 ? size : null;
  const text = size.trim();
  const fraction = /^(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)$/.exec(text);
  if (fraction) {
    const f = Number(fraction[1]) / Number(fraction[2]);
    return f > 0 && Number.isFinite(f) ? f * teacherBytes : null;
  }
  if (/^0?\.\d+$|^1(\.0*)?$/.test(text)) return Number(text) * teacherBytes || null;
  const bytes = /^(\d+(?:\.\d+)?)\s*(B|kB|KB|KiB|MB|MiB|GB|GiB)?$/.exec(text);
  if (!bytes) return null;
  const unitBytes: Record<string, number> = { B: 1, kB: 1e3, KB: 1e3, KiB: 1024, MB: 1e6, MiB: 1024 ** 2, GB: 1e9, GiB: 1024 ** 3 };
  const value = Number(bytes[1]) * unitBytes[bytes[2] ?? 'B'];
  return value > 0 ? value : null;
}
