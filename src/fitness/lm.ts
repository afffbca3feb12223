import type { Genome } from '../space/space.js';
import type { Fidelity } from '../strategies/types.js';
import type { Device } from '../runtime/onnx.js';
import { loadTransformer, type Transformer, type Weights } from '../models/transformer.js';
import { readTokenizer } from '../models/tokenizer.js';
import { sotuStreams, windowsOf } from '../data/text.js';
import { meanNll } from '../data/windows.js';
import { readManifest, type Manifest } from '../compress/database.js';
import { ByteLru } from '../compress/lru.js';
import { transformerStitcher, type Stitcher } from '../compress/stitcher.js';
import { onnxExecutor, type Backend, type LmExecutor } from './lm-backends.js';
import { samplesFor, type Fitness } from './types.js';

export type LmMetric = 'kl' | 'kl-topk' | 'ppl';

/** What a worker needs to score a language-model configuration (plain JSON, stored with the run). */
export interface LmFitnessSpec {
  type: LmMetric;
  /** Level database directory (absolute). */
  database: string;
  /** Model directory (absolute); must be the one the database was built from. */
  model: string;
  /** Calibration windows per unit of fidelity budget; a slice is `windows` consecutive windows of the pool. */
  windows: number;
  slices: number;
  /** Tokens per window (the model's context by default). */
  length: number;
  /** Teacher probabilities kept per token for kl-topk. */
  topK: number;
  /** Memory for cached dense outputs, in MiB (least recently used windows are dropped). */
  cacheMiB: number;
  /** Memory for level tensors read from the database, in MiB (least recently used are dropped). */
  levelCacheMiB: number;
  backend: Backend;
  device: Device;
  minimize: true;
}

/** What the dense model says about one window: log-probabilities, all of them or the top K. */
type Teacher = { full: Float32Array } | { top: { ids: Uint16Array; logp: Float32Array; tail: Float32Array } };

/**
 * KL(dense ‖ compressed), its top-K approximation, or perplexity of a compressed language model
 * on calibration windows. The worker holds the dense model and the level database; a candidate
 * is stitched by swapping in only the layers whose level changed since the last candidate.
 */
export class LmFitness implements Fitness {
  private readonly weights: Weights;
  private readonly stitcher: Stitcher;
  private readonly teachers: ByteLru<number, Teacher>;

  private constructor(
    readonly spec: LmFitnessSpec,
    readonly model: Transformer,
    manifest: Manifest,
    private readonly executor: LmExecutor,
    /** The calibration pool: `windows · slices` windows of `length` + 1 tokens. */
    readonly pool: Uint16Array[],
    readonly heldOut: () => Uint16Array[],
  ) {
    this.weights = new Map(model.weights);
    this.stitcher = transformerStitcher(spec.database, manifest, model, spec.levelCacheMiB);
    this.teachers = new ByteLru(spec.cacheMiB * 2 ** 20);
  }

  static async load(spec: LmFitnessSpec): Promise<LmFitness> {
    const manifest = readManifest(spec.database);
    const model = loadTransformer(spec.model);
    const tokenizer = readTokenizer(spec.model);
    const streams = sotuStreams((t) => tokenizer.encode(t));
    const pool = windowsOf(streams.calibration, spec.length, spec.windows * spec.slices);
    const executor = await createExecutor(spec, model);
    return new LmFitness(spec, model, manifest, executor, pool, () => windowsOf(streams.heldOut, spec.length, HELD_OUT_WINDOWS));
  }

  /** Windows of slice `slice` at fidelity `budget`: ⌈budget·windows⌉ consecutive pool windows, wrapping around. */
  windowsFor(fidelity: Fidelity): number[] {
    return samplesFor(fidelity, this.spec.windows, this.pool.length);
  }

  async evaluate(genome: Genome, fidelity: Fidelity): Promise<number> {
    this.stitch(genome);
    let total = 0;
    const indices = this.windowsFor(fidelity);
    for (const index of indices) {
      const window = this.pool[index];
      const logits = await this.executor.logits(window.subarray(0, this.spec.length), this.weights);
      total += this.spec.type === 'ppl' ? meanNll(logits, window.subarray(1), this.vocab) : kl(await this.teacher(index), logits, this.vocab);
    }
    const mean = total / indices.length;
    return this.spec.type === 'ppl' ? Math.exp(mean) : mean;
  }

  /**
   * Held-out KL (full, nats per token, against the dense model) and perplexity of configurations
   * (null: the dense model) on the recent addresses that neither training nor calibration saw.
   */
  async measureHeldOut(genomes: (Genome | null)[]): Promise<{ kl: number; ppl: number }[]> {
    const windows = this.heldOut();
    const run = (w: Uint16Array) => this.executor.logits(w.subarray(0, this.spec.length), this.weights);
    this.stitch(null);
    const dense: Float32Array[] = [];
    for (const w of windows) dense.push(logSoftmax(await run(w), this.vocab));
    const results: { kl: number; ppl: number }[] = [];
    for (const genome of genomes) {
      this.stitch(genome);
      let klSum = 0;
      let nllSum = 0;
      for (const [i, w] of windows.entries()) {
        const logits = await run(w);
        klSum += kl({ full: dense[i] }, logits, this.vocab);
        nllSum += meanNll(logits, w.subarray(1), this.vocab);
      }
      results.push({ kl: klSum / windows.length, ppl: Math.exp(nllSum / windows.length) });
    }
    return results;
  }

  async close(): Promise<void> {
    await this.executor.close();
  }

  private get vocab(): number {
    return this.model.config.vocabSize;
  }

  /** Puts each unit at its genome level (null: all dense), touching only units whose level changed. */
  private stitch(genome: Genome | null): void {
    for (const [name, data] of this.stitcher.stitch(genome)) this.weights.set(name, data);
  }

  /** The dense model's output on a pool window: computed once, kept while the cache has room. */
  private async teacher(index: number): Promise<Teacher> {
    const hit = this.teachers.get(index);
    if (hit) return hit;
    const saved = this.stitcher.configuration;
    this.stitch(null);
    const logp = logSoftmax(await this.executor.logits(this.pool[index].subarray(0, this.spec.length), this.weights), this.vocab);
    this.stitch(saved); // -1 entries: units still dense
    const teacher: Teacher = this.spec.type === 'kl-topk' ? { top: topK(logp, this.vocab, this.spec.topK) } : { full: logp };
    const bytes = 'full' in teacher ? teacher.full.byteLength : teacher.top.ids.byteLength + teacher.top.logp.byteLength + teacher.top.tail.byteLength;
    this.teachers.set(index, teacher, bytes);
    return teacher;
  }
}

/** The held-out measurement uses as many windows as training's own held-out perplexity. */
const HELD_OUT_WINDOWS = 64;

async function createExecutor(spec: LmFitnessSpec, model: Transformer): Promise<LmExecutor> {
  if (spec.backend === 'tfjs') {
    const { tfjsExecutor } = await import('./lm-tfjs.js');
    return tfjsExecutor(model.config, model.weights);
  }
  return onnxExecutor(model.config, spec.length, model.weights, spec.device);
}

function logSoftmax(logits: Float32Array, vocab: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let t = 0; t < logits.length / vocab; t++) {
    const row = logits.subarray(t * vocab, (t + 1) * vocab);
    let max = -Infinity;
    for (const x of row) max = Math.max(max, x);
    let sum = 0;
    for (const x of row) sum += Math.exp(x - max);
    const lse = max + Math.log(sum);
    for (let v = 0; v < vocab; v++) out[t * vocab + v] = row[v] - lse;
  }
  return out;
}

function topK(logp: Float32Array, vocab: number, k: number): { ids: Uint16Array; logp: Float32Array; tail: Float32Array } {
  const T = logp.length / vocab;
  const ids = new Uint16Array(T * k);
  const top = new Float32Array(T * k);
  const tail = new Float32Array(T);
  const order = Array.from({ length: vocab }, (_, v) => v);
  for (let t = 0; t < T; t++) {
    const row = logp.subarray(t * vocab, (t + 1) * vocab);
    order.sort((a, b) => row[b] - row[a] || a - b);
    let mass = 0;
    for (let j = 0; j < k; j++) {
      ids[t * k + j] = order[j];
      top[t * k + j] = row[order[j]];
      mass += Math.exp(row[order[j]]);
    }
    tail[t] = Math.log(Math.max(1e-12, 1 - mass));
  }
  return { ids, logp: top, tail };
}

/**
 * Mean over tokens of KL(p ‖ q) in nats, p the dense model's distribution, q the candidate's.
 * With top-K teacher outputs the K most likely tokens are compared one by one and the rest as one
 * lumped "other" outcome, which keeps it a true KL divergence between two distributions.
 */
function kl(teacher: Teacher, logits: Float32Array, vocab: number): number {
  const logq = logSoftmax(logits, vocab);
  const T = logits.length / vocab;
  let total = 0;
  if ('full' in teacher) {
    const logp = teacher.full;
    for (let i = 0; i < logp.length; i++) total += Math.exp(logp[i]) * (logp[i] - logq[i]);
    return total / T;
  }
  const { ids, logp, tail } = teacher.top;
  const k = ids.length / T;
  for (let t = 0; t < T; t++) {
    let qTop = 0;
    for (let j = 0; j < k; j++) {
      const lq = logq[t * vocab + ids[t * k + j]];
      total += Math.exp(logp[t * k + j]) * (logp[t * k + j] - lq);
      qTop += Math.exp(lq);
    }
    total += Math.exp(tail[t]) * (tail[t] - Math.log(Math.max(1e-12, 1 - qTop)));
  }
  return total / T;
}
