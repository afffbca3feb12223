import { z } from 'zod';
import { genomeKey, type Genome, type Fidelity } from '../space/space.js';
import { ByteLru } from '../runtime/byte-lru.js';
import { loadTransformer, type Transformer } from '../models/transformer.js';
import { readTokenizer } from '../models/tokenizer.js';
import { createTransformerRunner } from '../models/transformer-runner.js';
import { firstPointAffected, residualPoints } from '../models/config.js';
import { PrefixReuse } from './prefix-reuse.js';
import { calibrationWindows, sotuStreams, windowsOf } from '../data/text.js';
import { meanNll } from '../data/windows.js';
import { readManifest } from '../compress/manifest.js';
import { transformerStitcher } from '../compress/stitcher.js';
import { positiveInt } from '../validation.js';
import { DenseOutputs, StitchedModel } from './stitched-model.js';
import { modelFitness, samplesFor, type Fitness, type ModelFiles } from './types.js';
import { lmLayout, lmSamples } from './samples.js';

export const lmFitnessSchema = z.strictObject({
  type: z.enum(['kl', 'kl-topk', 'ppl']),
  /** Calibration windows per unit of fidelity budget (a racing stage with budget 4 reads 4× as many); a slice is `windows` consecutive windows of the pool (search: `windows`·`slices` evenly spaced windows; validation: `windows`·`validationSlices` more in the gaps between them). */
  windows: positiveInt.default(4),
  slices: positiveInt.default(16),
  /** Tokens per window (default: the model's context). */
  length: positiveInt.optional(),
  /** Teacher probabilities kept per token for kl-topk. */
  topK: positiveInt.default(16),
  /** Memory for cached dense outputs, in MiB (least recently used windows are dropped). */
  cacheMiB: positiveInt.default(256),
  /** Memory for the residual streams kept for prefix reuse, in MiB (onnx backend); 0 runs every window from its first block. */
  prefixCacheMiB: z.number().int().min(0).default(32),
  ...modelFitness,
  /** onnxruntime's execution provider. */
  device: z.enum(['cpu', 'cuda', 'webgpu']).default('cpu'),
  minimize: z.literal(true).default(true),
});

export type LmMetric = z.infer<typeof lmFitnessSchema>['type'];

/** What a worker needs to score a language-model configuration (plain JSON, stored with the run): the window length is resolved. */
export type LmFitnessSpec = z.infer<typeof lmFitnessSchema> & ModelFiles & { length: number };

/** What the dense model says about one window: log-probabilities, all of them or the top K. */
type Teacher = { full: Float32Array } | { top: { ids: Uint16Array; logp: Float32Array; tail: Float32Array } };

/**
 * KL(dense ‖ compressed), its top-K approximation, or perplexity of a compressed language model
 * on calibration windows. The worker holds the dense model and the level database; a candidate
 * is stitched by swapping in only the layers whose level changed since the last candidate.
 */
export class LmFitness implements Fitness {
  private readonly teachers: DenseOutputs<Teacher>;
  /** Per-window values of configurations already scored here, by configuration and window. */
  private readonly scored = new ByteLru<string, number>(SCORED_CACHE_BYTES);

  private constructor(
    readonly spec: LmFitnessSpec,
    readonly model: Transformer,
    private readonly stitched: StitchedModel<Uint16Array>,
    /** The calibration pool: `windows · slices` search windows, then `windows · validationSlices` validation windows, of `length` + 1 tokens. */
    readonly pool: Uint16Array[],
    readonly heldOut: () => Uint16Array[],
    /** Null when turned off or where the backend cannot start mid-model. */
    readonly prefixReuse: PrefixReuse | null,
  ) {
    this.teachers = new DenseOutputs(stitched, spec.cacheMiB, async (index) => {
      const logp = logSoftmax(await this.poolLogits(index), this.vocab);
      const teacher: Teacher = spec.type === 'kl-topk' ? { top: topK(logp, this.vocab, spec.topK) } : { full: logp };
      const bytes = 'full' in teacher ? teacher.full.byteLength : teacher.top.ids.byteLength + teacher.top.logp.byteLength + teacher.top.tail.byteLength;
      return { value: teacher, bytes };
    });
  }

  static async load(spec: LmFitnessSpec): Promise<LmFitness> {
    const manifest = readManifest(spec.database);
    const model = loadTransformer(spec.model);
    const tokenizer = readTokenizer(spec.model);
    const streams = sotuStreams((t) => tokenizer.encode(t));
    const pool = calibrationWindows(streams.calibration, spec.length, spec.windows * spec.slices, spec.windows * spec.validationSlices);
    const runner = await createTransformerRunner(model.config, spec.length, model.weights, spec.backend, spec.device);
    const stitched = new StitchedModel(runner, transformerStitcher(spec.database, manifest, model, spec.levelCacheMiB));
    const affects = manifest.units.map((u) => Math.min(...u.weights.map((w) => firstPointAffected(model.config, w))));
    const prefixReuse = runner.resume && spec.prefixCacheMiB > 0 ? new PrefixReuse(runner.resume.bind(runner), affects, residualPoints(model.config), spec.prefixCacheMiB) : null;
    return new LmFitness(spec, model, stitched, pool, () => windowsOf(streams.heldOut, spec.length, HELD_OUT_WINDOWS), prefixReuse);
  }

  /** Windows of slice `slice` at fidelity `budget`: ⌈budget·windows⌉ consecutive pool windows, wrapping within the search or the validation windows. */
  windowsFor(fidelity: Fidelity): number[] {
    return samplesFor(fidelity, lmLayout(this.spec));
  }

  /**
   * The mean over the fidelity's windows of each window's KL (or NLL), combined as
   * {@link lmSamples} combines them. A window this worker has already scored for the same
   * configuration (a racing stage's larger budget reads the smaller one's windows again; a later
   * generation meets the same configuration and slice) is not run again: its value is the same
   * number, so the result does not depend on which worker had it.
   */
  async evaluate(genome: Genome, fidelity: Fidelity): Promise<number> {
    const configuration = genomeKey(genome);
    const values: number[] = [];
    for (const index of this.windowsFor(fidelity)) values.push(await this.windowValue(genome, configuration, index));
    return lmSamples.combine(this.spec, values);
  }

  /** The value of the fidelity's `sample`-th window alone: what a pool that splits a candidate's windows among workers asks for. */
  evaluateSample(genome: Genome, fidelity: Fidelity, sample: number): Promise<number> {
    return this.windowValue(genome, genomeKey(genome), this.windowsFor(fidelity)[sample]);
  }

  /** KL (or NLL) of a configuration (`configuration`: its genome key) on pool window `index`. */
  private async windowValue(genome: Genome, configuration: string, index: number): Promise<number> {
    const key = `${configuration}|${index}`;
    let value = this.scored.get(key);
    if (value === undefined) {
      this.stitched.stitch(genome);
      const logits = await this.poolLogits(index);
      value = this.spec.type === 'ppl' ? meanNll(logits, this.pool[index].subarray(1), this.vocab) : kl(await this.teachers.get(index), logits, this.vocab);
      this.scored.set(key, value, SCORED_ENTRY_BYTES + key.length);
    }
    return value;
  }

  /**
   * Held-out KL (full, nats per token, against the dense model) and perplexity of configurations
   * (null: the dense model) on the recent addresses that neither training nor calibration saw.
   */
  async measureHeldOut(genomes: (Genome | null)[]): Promise<{ kl: number; ppl: number }[]> {
    const windows = this.heldOut();
    this.stitched.stitch(null);
    const dense: Float32Array[] = [];
    for (const w of windows) dense.push(logSoftmax(await this.logits(w), this.vocab));
    const results: { kl: number; ppl: number }[] = [];
    for (const genome of genomes) {
      this.stitched.stitch(genome);
      let klSum = 0;
      let nllSum = 0;
      for (const [i, w] of windows.entries()) {
        const logits = await this.logits(w);
        klSum += kl({ full: dense[i] }, logits, this.vocab);
        nllSum += meanNll(logits, w.subarray(1), this.vocab);
      }
      results.push({ kl: klSum / windows.length, ppl: Math.exp(nllSum / windows.length) });
    }
    return results;
  }

  /** Logits of a configuration (null: the dense model) on one window: what a peer implementation is checked against. */
  async logitsOf(genome: Genome | null, window: Uint16Array): Promise<Float32Array> {
    this.stitched.stitch(genome);
    return this.logits(window);
  }

  close(): Promise<void> {
    return this.stitched.close();
  }

  private get vocab(): number {
    return this.model.config.vocabSize;
  }

  /** Logits of a window's first `length` tokens (its last token is only ever a target). */
  private logits(window: Uint16Array): Promise<Float32Array> {
    return this.stitched.run(window.subarray(0, this.spec.length));
  }

  /** {@link logits} of pool window `index`, resumed from a stream already computed where prefix reuse has one. */
  private poolLogits(index: number): Promise<Float32Array> {
    const tokens = this.pool[index].subarray(0, this.spec.length);
    return this.prefixReuse ? this.prefixReuse.logits(index, tokens, this.stitched.configuration) : this.stitched.run(tokens);
  }
}

/** Memory for per-window values already scored (about a million entries of a 24-unit model). */
const SCORED_CACHE_BYTES = 64 * 2 ** 20;
/** A cached per-window value: the number, the map entry and the window index in its key. */
const SCORED_ENTRY_BYTES = 64;

/** The held-out measurement uses as many windows as training's own held-out perplexity. */
const HELD_OUT_WINDOWS = 64;

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
