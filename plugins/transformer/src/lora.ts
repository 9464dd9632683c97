/**
 * Low-rank adapters (LoRA, Hu et al. 2021) on the linear projections of the transformer:
 * `y = x·W + (alpha/r) · dropout(x)·A·B` with `A` `[in, r]`, `B` `[r, out]` in this model's
 * `x · W` layout (PEFT stores the transposes: `lora_A.weight` `[r, in]`, `lora_B.weight`
 * `[out, r]`). As in PEFT, `A` starts Kaiming-uniform (`a = √5`, i.e. U(−1/√in, 1/√in)) and `B` at
 * zero, so a fresh adapter leaves the model's outputs exactly as they were.
 *
 * The base weights stay frozen and are shared: the reference policy is the same weights with the
 * adapters off, so LoRA costs no second copy of the model.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError, field, Rng, type Section } from '@grpo/core';
import { z } from 'zod';
import type { TransformerConfig } from './config.js';
import { weightShapes, type LinearDelta } from './model.js';

const { int, positive, fractionBelowOne } = field;

/** The projections LoRA can adapt, by their Hugging Face module names, and this model's weight for each. */
export const LORA_MODULES = {
  q_proj: 'attn.wq',
  k_proj: 'attn.wk',
  v_proj: 'attn.wv',
  o_proj: 'attn.wo',
  gate_proj: 'mlp.w1',
  up_proj: 'mlp.w3',
  down_proj: 'mlp.w2',
} as const;
export type LoraModule = keyof typeof LORA_MODULES;
const MODULE_NAMES = Object.keys(LORA_MODULES) as LoraModule[];

/** The `policy.lora` config section, owned by this plugin. */
export const loraSchema = z
  .strictObject({
    r: int(1).default(8).describe('Rank of each adapter.'),
    alpha: positive().default(16).describe('Scale numerator: the adapter term is multiplied by alpha / r.'),
    dropout: fractionBelowOne()
      .default(0)
      .describe("Dropout on the adapters' input while training (masks are a function of the batch's tokens, so runs and resumes are exact)."),
    targetModules: z
      .union([z.literal('all-linear'), z.array(z.enum(MODULE_NAMES as [LoraModule, ...LoraModule[]])).min(1)])
      .default(['q_proj', 'v_proj'])
      .describe(`Projections that get adapters: a list of ${MODULE_NAMES.join(', ')}, or 'all-linear' (all of them; not the output head).`),
  })
  .optional()
  .describe(
    'Train low-rank adapters instead of all weights: only the adapters train and have optimizer state; the reference policy is the base with the adapters off (no second copy of the weights).',
  );

declare module '@grpo/core' {
  interface PolicySections {
    lora: Section<typeof loraSchema>;
  }
}

/** A resolved LoRA setup (also `config.json#lora` of a LoRA checkpoint and, translated, PEFT's `adapter_config.json`). */
export interface LoraConfig {
  r: number;
  alpha: number;
  dropout: number;
  /** In `LORA_MODULES` order, without repeats. */
  targetModules: LoraModule[];
  /** Rank-stabilised scaling alpha/√r instead of alpha/r (PEFT's `use_rslora`; only from adapters read from PEFT files). */
  rslora?: boolean;
}

export type LoraOptions = NonNullable<z.input<typeof loraSchema>>;

/** Fills defaults and expands `'all-linear'`. */
export function resolveLoraConfig(options: LoraOptions): LoraConfig {
  const parsed = loraSchema.parse(options)!;
  const wanted = parsed.targetModules === 'all-linear' ? MODULE_NAMES : parsed.targetModules;
  return { r: parsed.r, alpha: parsed.alpha, dropout: parsed.dropout, targetModules: MODULE_NAMES.filter((m) => wanted.includes(m)) };
}

/** The factor the adapter term is multiplied by: alpha/r (alpha/√r with rsLoRA). */
export function loraScale(c: LoraConfig): number {
  return c.rslora ? c.alpha / Math.sqrt(c.r) : c.alpha / c.r;
}

/** Whether two setups train the same adapters (dropout aside, which does not change the weights' shapes or meaning). */
export function loraDiff(a: LoraConfig, b: LoraConfig): string[] {
  const out: string[] = [];
  if (a.r !== b.r) out.push(`r ${a.r} ≠ ${b.r}`);
  if (loraScale(a) !== loraScale(b)) out.push(`scale ${loraScale(a)} ≠ ${loraScale(b)}`);
  if (a.targetModules.join() !== b.targetModules.join()) out.push(`targetModules ${a.targetModules.join(',')} ≠ ${b.targetModules.join(',')}`);
  return out;
}

/** One adapted weight: its base weight's name (e.g. `layers.0.attn.wq`), module, layer and sizes. */
export interface AdapterSlot {
  name: string;
  layer: number;
  module: LoraModule;
  inDim: number;
  outDim: number;
}

/** The adapted weights of `cfg` under `lora`, in checkpoint order (layer by layer, `LORA_MODULES` order within a layer). */
export function adapterSlots(cfg: TransformerConfig, lora: LoraConfig): AdapterSlot[] {
  const shapes = new Map(weightShapes(cfg));
  const out: AdapterSlot[] = [];
  for (let layer = 0; layer < cfg.nLayers; layer++)
    for (const module of lora.targetModules) {
      const name = `layers.${layer}.${LORA_MODULES[module]}`;
      const [inDim, outDim] = shapes.get(name) as [number, number];
      out.push({ name, layer, module, inDim, outDim });
    }
  return out;
}

/** Adapter values by base weight name: `a` `[in, r]`, `b` `[r, out]`, row-major. */
export type AdapterValues = Map<string, { a: Float32Array; b: Float32Array }>;

/**
 * Fresh adapters as PEFT initialises them (`init_lora_weights=True`): `A` from PyTorch's
 * `kaiming_uniform_(a=√5)`, which for `lora_A.weight` `[r, in]` is U(−1/√in, 1/√in); `B` = 0.
 * Deterministic in `seed`.
 */
export function initAdapterValues(cfg: TransformerConfig, lora: LoraConfig, seed: number): AdapterValues {
  const rng = new Rng(seed ^ 0x10ea);
  const out: AdapterValues = new Map();
  for (const s of adapterSlots(cfg, lora)) {
    const bound = 1 / Math.sqrt(s.inDim);
    const a = new Float32Array(s.inDim * lora.r);
    for (let i = 0; i < a.length; i++) a[i] = (2 * rng.next() - 1) * bound;
    out.set(s.name, { a, b: new Float32Array(lora.r * s.outDim) });
  }
  return out;
}

/** Adapter variables by base weight name. */
export type AdapterMap = Map<string, { a: tf.Variable; b: tf.Variable }>;

/** Variables for `values` (which must hold every slot), named `${prefix}/${name}.lora_a|b`. */
export function makeAdapters(cfg: TransformerConfig, lora: LoraConfig, values: AdapterValues, trainable: boolean, prefix: string): AdapterMap {
  const out: AdapterMap = new Map();
  for (const s of adapterSlots(cfg, lora)) {
    const v = values.get(s.name);
    if (!v) throw new Error(`missing adapter for ${s.name}`);
    out.set(s.name, {
      a: tf.variable(tf.tensor2d(v.a, [s.inDim, lora.r]), trainable, `${prefix}/${s.name}.lora_a`),
      b: tf.variable(tf.tensor2d(v.b, [lora.r, s.outDim]), trainable, `${prefix}/${s.name}.lora_b`),
    });
  }
  return out;
}

/** Copies of the adapters' current values. */
export async function adapterValues(adapters: ReadonlyMap<string, { a: tf.Tensor; b: tf.Tensor }>): Promise<AdapterValues> {
  const out: AdapterValues = new Map();
  for (const [name, { a, b }] of adapters) out.set(name, { a: Float32Array.from(await a.data()), b: Float32Array.from(await b.data()) });
  return out;
}

/** 32-bit FNV-1a of the ids: the dropout masks' seed for a batch. */
function hashIds(ids: Int32Array, salt: number): number {
  let h = 0x811c9dc5 ^ salt;
  for (const id of ids) {
    h = Math.imul(h ^ (id & 0xff), 16777619);
    h = Math.imul(h ^ (id >>> 8), 16777619);
  }
  return h >>> 0;
}

/**
 * The adapters as a `LinearDelta`: `scale · dropout(x)·A·B`. With `dropout` > 0 and `ids` given
 * (a training pass), each adapter's mask is seeded by the batch's token ids, its position among
 * the adapters and `seed`: the same batch gets the same masks when π_old's log-probs are taken and
 * in the update (so the first ratio is exactly 1), and a resumed run draws what the straight one drew.
 */
export function adapterDelta(
  adapters: ReadonlyMap<string, { a: tf.Tensor; b: tf.Tensor }>,
  scale: number,
  dropout = 0,
  ids?: Int32Array,
  seed = 0,
): LinearDelta {
  const order = new Map([...adapters.keys()].map((k, i) => [k, i]));
  const batchSeed = dropout > 0 && ids ? hashIds(ids, seed) : undefined;
  return {
    delta(name, x) {
      const ad = adapters.get(name);
      if (!ad) return undefined;
      const input = batchSeed === undefined ? x : tf.dropout(x, dropout, undefined, (batchSeed + 7919 * (order.get(name) as number)) >>> 0);
      return tf.mul(tf.matMul(tf.matMul(input, ad.a), ad.b), scale) as tf.Tensor2D;
    },
  };
}

/** `W + scale·A·B` for every adapted weight (call inside `tf.tidy`). */
export function mergedWeight(base: tf.Tensor, ad: { a: tf.Tensor; b: tf.Tensor }, scale: number): tf.Tensor {
  return tf.add(base, tf.mul(tf.matMul(ad.a as tf.Tensor2D, ad.b as tf.Tensor2D), scale));
}

/** A `ConfigError` for a LoRA setup that does not match a checkpoint's adapters. */
export function loraMismatch(source: string, where: string, diff: string[]): ConfigError {
  return new ConfigError(source, [{ path: 'policy.lora', message: `${where} holds adapters of another setup (${diff.join(', ')}); use the same policy.lora` }]);
}
