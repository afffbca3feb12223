import { z } from 'zod';
import { readJson, validate } from '../validation.js';
import { UserError } from '../errors.js';

/** A decoder-only transformer's shape, normalised from a Hugging Face config.json. */
export interface TransformerConfig {
  family: 'gpt2' | 'llama';
  vocabSize: number;
  contextLength: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** Key/value heads (grouped-query attention); equals nHeads for GPT-2. */
  nKvHeads: number;
  dFf: number;
  normEps: number;
  /** RoPE base (Llama only). */
  ropeTheta: number;
  tieEmbeddings: boolean;
  /**
   * GPT-2 blocks whose heads and MLP width differ from block to block (elastic students): one entry
   * per block. Absent: every block has `nHeads` and `dFf`.
   */
  blocks?: { heads: number; dFf: number }[];
}

/** Block i's attention heads. */
export function blockHeads(c: TransformerConfig, i: number): number {
  return c.blocks?.[i].heads ?? c.nHeads;
}

/** Block i's MLP width. */
export function blockFf(c: TransformerConfig, i: number): number {
  return c.blocks?.[i].dFf ?? c.dFf;
}

const int = z.number().int().min(1);

const gpt2 = z.looseObject({
  model_type: z.literal('gpt2'),
  vocab_size: int,
  n_positions: int,
  n_embd: int,
  n_layer: int,
  n_head: int,
  n_inner: int.nullable().optional(),
  layer_norm_epsilon: z.number().positive().default(1e-5),
  /** evosearch's elastic students: heads and MLP width per block (not Hugging Face keys; n_head and n_inner then hold block 0's). */
  n_head_per_layer: z.array(int).optional(),
  n_inner_per_layer: z.array(int).optional(),
});

const llama = z.looseObject({
  model_type: z.literal('llama'),
  vocab_size: int,
  max_position_embeddings: int,
  hidden_size: int,
  num_hidden_layers: int,
  num_attention_heads: int,
  num_key_value_heads: int.optional(),
  intermediate_size: int,
  rms_norm_eps: z.number().positive().default(1e-6),
  rope_theta: z.number().positive().default(10000),
  tie_word_embeddings: z.boolean().default(false),
});

const schema = z.discriminatedUnion('model_type', [gpt2, llama]);

export function parseTransformerConfig(raw: unknown, file: string): TransformerConfig {
  const c = validate(schema, raw, file);
  const config: TransformerConfig =
    c.model_type === 'gpt2'
      ? {
          family: 'gpt2',
          vocabSize: c.vocab_size,
          contextLength: c.n_positions,
          dModel: c.n_embd,
          nLayers: c.n_layer,
          nHeads: c.n_head,
          nKvHeads: c.n_head,
          dFf: c.n_inner ?? 4 * c.n_embd,
          normEps: c.layer_norm_epsilon,
          ropeTheta: 0,
          tieEmbeddings: true,
          ...perLayer(c.n_head_per_layer, c.n_inner_per_layer, c.n_layer, file),
        }
      : {
          family: 'llama',
          vocabSize: c.vocab_size,
          contextLength: c.max_position_embeddings,
          dModel: c.hidden_size,
          nLayers: c.num_hidden_layers,
          nHeads: c.num_attention_heads,
          nKvHeads: c.num_key_value_heads ?? c.num_attention_heads,
          dFf: c.intermediate_size,
          normEps: c.rms_norm_eps,
          ropeTheta: c.rope_theta,
          tieEmbeddings: c.tie_word_embeddings,
        };
  for (let i = 0; i < config.nLayers; i++) {
    const heads = blockHeads(config, i);
    if (config.dModel % heads !== 0) throw new UserError(`${file}: the model width ${config.dModel} is not a multiple of the ${heads} heads${config.blocks ? ` of block ${i}` : ''}`);
  }
  if (config.nHeads % config.nKvHeads !== 0) throw new UserError(`${file}: num_attention_heads ${config.nHeads} is not a multiple of num_key_value_heads ${config.nKvHeads}`);
  if (config.family === 'llama' && (config.dModel / config.nHeads) % 2 !== 0) throw new UserError(`${file}: RoPE needs an even head size, got ${config.dModel / config.nHeads}`);
  return config;
}

/** An elastic GPT-2's per-block heads and MLP widths, when its config gives them (both, one per block). */
function perLayer(heads: number[] | undefined, ff: number[] | undefined, layers: number, file: string): { blocks?: TransformerConfig['blocks'] } {
  if (!heads && !ff) return {};
  if (!heads || !ff || heads.length !== layers || ff.length !== layers) {
    throw new UserError(`${file}: n_head_per_layer and n_inner_per_layer: expected both, with one entry for each of the ${layers} layers`);
  }
  return { blocks: heads.map((h, i) => ({ heads: h, dFf: ff[i] })) };
}

export function readTransformerConfig(file: string): TransformerConfig {
  return parseTransformerConfig(readJson(file, 'model config'), file);
}

/**
 * Every weight the forward pass reads, with its shape, in Hugging Face's names and layouts:
 * GPT-2's Conv1D weights are [in, out]; Llama's Linear weights are [out, in].
 */
export function weightShapes(c: TransformerConfig): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const d = c.dModel;
  const head = d / c.nHeads;
  if (c.family === 'gpt2') {
    shapes.set('wte.weight', [c.vocabSize, d]);
    shapes.set('wpe.weight', [c.contextLength, d]);
    for (let i = 0; i < c.nLayers; i++) {
      const p = `h.${i}.`;
      shapes.set(`${p}ln_1.weight`, [d]).set(`${p}ln_1.bias`, [d]);
      shapes.set(`${p}attn.c_attn.weight`, [d, 3 * d]).set(`${p}attn.c_attn.bias`, [3 * d]);
      shapes.set(`${p}attn.c_proj.weight`, [d, d]).set(`${p}attn.c_proj.bias`, [d]);
      shapes.set(`${p}ln_2.weight`, [d]).set(`${p}ln_2.bias`, [d]);
      const ff = blockFf(c, i);
      shapes.set(`${p}mlp.c_fc.weight`, [d, ff]).set(`${p}mlp.c_fc.bias`, [ff]);
      shapes.set(`${p}mlp.c_proj.weight`, [ff, d]).set(`${p}mlp.c_proj.bias`, [d]);
    }
    shapes.set('ln_f.weight', [d]).set('ln_f.bias', [d]);
    return shapes;
  }
  shapes.set('model.embed_tokens.weight', [c.vocabSize, d]);
  for (let i = 0; i < c.nLayers; i++) {
    const p = `model.layers.${i}.`;
    shapes.set(`${p}input_layernorm.weight`, [d]);
    shapes.set(`${p}self_attn.q_proj.weight`, [c.nHeads * head, d]);
    shapes.set(`${p}self_attn.k_proj.weight`, [c.nKvHeads * head, d]);
    shapes.set(`${p}self_attn.v_proj.weight`, [c.nKvHeads * head, d]);
    shapes.set(`${p}self_attn.o_proj.weight`, [d, c.nHeads * head]);
    shapes.set(`${p}post_attention_layernorm.weight`, [d]);
    shapes.set(`${p}mlp.gate_proj.weight`, [c.dFf, d]);
    shapes.set(`${p}mlp.up_proj.weight`, [c.dFf, d]);
    shapes.set(`${p}mlp.down_proj.weight`, [d, c.dFf]);
  }
  shapes.set('model.norm.weight', [d]);
  if (!c.tieEmbeddings) shapes.set('lm_head.weight', [c.vocabSize, d]);
  return shapes;
}

/** A compressible linear layer of the transformer blocks (embeddings and the LM head stay dense, as in EvoPress). */
export interface LinearLayer {
  /** Its weight's Hugging Face name. */
  weight: string;
  block: number;
  part: 'attn' | 'mlp';
  inFeatures: number;
  outFeatures: number;
  /** How the weight is stored: GPT-2's Conv1D is [in, out], torch Linear is [out, in]. */
  layout: 'inOut' | 'outIn';
}

export function linearLayers(c: TransformerConfig): LinearLayer[] {
  const shapes = weightShapes(c);
  const names =
    c.family === 'gpt2'
      ? (i: number) => [`h.${i}.attn.c_attn`, `h.${i}.attn.c_proj`, `h.${i}.mlp.c_fc`, `h.${i}.mlp.c_proj`]
      : (i: number) => ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'].map((n) => `model.layers.${i}.${n}`);
  const layout = c.family === 'gpt2' ? 'inOut' : 'outIn';
  const layers: LinearLayer[] = [];
  for (let block = 0; block < c.nLayers; block++) {
    for (const name of names(block)) {
      const weight = `${name}.weight`;
      const [a, b] = shapes.get(weight)!;
      const [inFeatures, outFeatures] = layout === 'inOut' ? [a, b] : [b, a];
      layers.push({ weight, block, part: name.includes('attn') ? 'attn' : 'mlp', inFeatures, outFeatures, layout });
    }
  }
  return layers;
}

/**
 * Where the residual stream can be cut: point 0 after the embeddings, 2i + 1 after block i's
 * attention sub-block, 2i + 2 after its MLP sub-block (as transformer.ts's ResidualHook numbers them).
 * Sub-block s reads point s and writes point s + 1.
 */
export const residualPoints = (c: TransformerConfig): number => 2 * c.nLayers + 1;

/**
 * The first residual point whose stream depends on `weight`: 2i + 1 for block i's attention
 * sub-block (its norm included), 2i + 2 for its MLP, 0 for the embeddings (GPT-2's and tied heads
 * read them again at the end), past every point for the final norm and an untied head. An unknown
 * name counts as 0: it may affect everything.
 */
export function firstPointAffected(c: TransformerConfig, weight: string): number {
  const block = /^(?:h|model\.layers)\.(\d+)\.(ln_1|attn|input_layernorm|self_attn|ln_2|mlp|post_attention_layernorm)\./.exec(weight);
  if (block) return 2 * Number(block[1]) + (['ln_1', 'attn', 'input_layernorm', 'self_attn'].includes(block[2]) ? 1 : 2);
  if (/^(ln_f|model\.norm|lm_head)\./.test(weight)) return residualPoints(c);
  return 0;
}

/**
 * The residual sub-blocks that block dropping removes. Zeroing a sub-block's output projection
 * (and its bias) makes its contribution to the residual stream exactly zero, so a dropped
 * sub-block is just another set of tensors to stitch in.
 */
export function subBlocks(c: TransformerConfig): { name: string; block: number; part: 'attn' | 'mlp'; outputs: string[] }[] {
  const out: { name: string; block: number; part: 'attn' | 'mlp'; outputs: string[] }[] = [];
  for (let i = 0; i < c.nLayers; i++) {
    if (c.family === 'gpt2') {
      out.push({ name: `h.${i}.attn`, block: i, part: 'attn', outputs: [`h.${i}.attn.c_proj.weight`, `h.${i}.attn.c_proj.bias`] });
      out.push({ name: `h.${i}.mlp`, block: i, part: 'mlp', outputs: [`h.${i}.mlp.c_proj.weight`, `h.${i}.mlp.c_proj.bias`] });
    } else {
      out.push({ name: `model.layers.${i}.self_attn`, block: i, part: 'attn', outputs: [`model.layers.${i}.self_attn.o_proj.weight`] });
      out.push({ name: `model.layers.${i}.mlp`, block: i, part: 'mlp', outputs: [`model.layers.${i}.mlp.down_proj.weight`] });
    }
  }
  return out;
}
