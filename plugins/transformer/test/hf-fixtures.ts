/**
 * Tiny Hugging Face model directories written by the tests themselves: config.json, random
 * weights under the Hugging Face tensor names and shapes (`[out, in]`), stored as F32, F16 or
 * BF16 in one `model.safetensors` or in shards with `model.safetensors.index.json`.
 *
 * Values are drawn so that they are exactly representable in the chosen dtype, so the float64
 * reference (hf-reference.ts) and the loader see the same numbers. The safetensors writer and
 * the half-precision encoders here are written from the format specs, independently of the
 * loader's reader.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type FixtureDtype = 'F32' | 'F16' | 'BF16';
export type HfWeights = Map<string, { shape: number[]; values: Float64Array }>;

/** A small deterministic PRNG (mulberry32) and normal draws from it. */
export function rng(seed: number): { uniform(): number; normal(): number } {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { uniform, normal: () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform()) };
}

/** `x` rounded to a value the dtype holds exactly (F16: a multiple of 2⁻¹⁰ below 2 in magnitude; BF16: a float32 with its low 16 bits cleared). */
export function representable(x: number, dtype: FixtureDtype): number {
  if (dtype === 'F32') return Math.fround(x);
  if (dtype === 'F16') return Math.max(-2 + 2 ** -10, Math.min(2 - 2 ** -10, Math.round(x * 1024) / 1024));
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = (u[0] as number) & 0xffff0000;
  return f[0] as number;
}

/** IEEE 754 binary16 bits of a value that binary16 holds exactly (normal, subnormal or zero). */
export function f16Bits(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === 0) return sign;
  if (a < 2 ** -14) return sign | Math.round(a / 2 ** -24); // subnormal: frac · 2⁻²⁴
  const e = Math.floor(Math.log2(a));
  const frac = Math.round((a / 2 ** e - 1) * 1024);
  return sign | ((e + 15) << 10) | frac;
}

/** Little-endian bytes of `values` in `dtype`. */
function encode(values: Float64Array, dtype: FixtureDtype): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(Float32Array.from(values).buffer);
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    const bits = dtype === 'F16' ? f16Bits(v) : new Uint32Array(new Float32Array([v]).buffer)[0]! >>> 16;
    view.setUint16(2 * i, bits, true);
  });
  return out;
}

/** A safetensors file (8-byte header length, JSON header padded to 8 bytes, data) of raw tensors. */
export function safetensorsBytes(tensors: { name: string; dtype: string; shape: number[]; bytes: Uint8Array }[]): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' ';
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(new TextEncoder().encode(json), 8);
  let at = 8 + json.length;
  for (const t of tensors) {
    out.set(t.bytes, at);
    at += t.bytes.length;
  }
  return out;
}

/** The tensors a config.json implies, with Hugging Face names and shapes (written from the modelling code's module list). */
export function hfTensorShapes(config: Record<string, unknown>): [string, number[]][] {
  const arch = (config.architectures as string[])[0]!;
  const d = config.hidden_size as number;
  const H = config.num_attention_heads as number;
  const Hkv = (config.num_key_value_heads as number | undefined) ?? H;
  const hd = (config.head_dim as number | undefined) ?? d / H;
  const ffn = config.intermediate_size as number;
  const V = config.vocab_size as number;
  const out: [string, number[]][] = [['model.embed_tokens.weight', [V, d]]];
  for (let l = 0; l < (config.num_hidden_layers as number); l++) {
    const p = `model.layers.${l}`;
    out.push(
      [`${p}.input_layernorm.weight`, [d]],
      [`${p}.self_attn.q_proj.weight`, [H * hd, d]],
      [`${p}.self_attn.k_proj.weight`, [Hkv * hd, d]],
      [`${p}.self_attn.v_proj.weight`, [Hkv * hd, d]],
      [`${p}.self_attn.o_proj.weight`, [d, H * hd]],
      [`${p}.post_attention_layernorm.weight`, [d]],
      [`${p}.mlp.gate_proj.weight`, [ffn, d]],
      [`${p}.mlp.up_proj.weight`, [ffn, d]],
      [`${p}.mlp.down_proj.weight`, [d, ffn]],
    );
    if (arch === 'Qwen2ForCausalLM')
      out.push([`${p}.self_attn.q_proj.bias`, [H * hd]], [`${p}.self_attn.k_proj.bias`, [Hkv * hd]], [`${p}.self_attn.v_proj.bias`, [Hkv * hd]]);
    if (arch === 'Qwen3ForCausalLM') out.push([`${p}.self_attn.q_norm.weight`, [hd]], [`${p}.self_attn.k_norm.weight`, [hd]]);
  }
  out.push(['model.norm.weight', [d]]);
  if (!config.tie_word_embeddings) out.push(['lm_head.weight', [V, d]]);
  return out;
}

/** Random weights for `config`: matrices N(0, scale²), norm gains 1 + N(0, 0.1²), biases N(0, 0.2²); representable in `dtype`. */
export function randomHfWeights(config: Record<string, unknown>, seed: number, dtype: FixtureDtype, scale = 0.35): HfWeights {
  const r = rng(seed);
  const out: HfWeights = new Map();
  for (const [name, shape] of hfTensorShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const draw = name.endsWith('norm.weight') ? () => 1 + 0.1 * r.normal() : name.endsWith('.bias') ? () => 0.2 * r.normal() : () => scale * r.normal();
    out.set(name, { shape, values: Float64Array.from({ length: n }, () => representable(draw(), dtype)) });
  }
  return out;
}

export interface WriteOptions {
  dtype?: FixtureDtype;
  /** Split the tensors over this many shards (with an index); 1 (default) writes model.safetensors. */
  shards?: number;
  generationConfig?: Record<string, unknown>;
  files?: Record<string, string>;
}

/** Writes a Hugging Face model directory. */
export async function writeHfModel(dir: string, config: Record<string, unknown>, weights: HfWeights, options: WriteOptions = {}): Promise<void> {
  const dtype = options.dtype ?? 'F32';
  const shards = options.shards ?? 1;
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  if (options.generationConfig) await writeFile(join(dir, 'generation_config.json'), JSON.stringify(options.generationConfig));
  for (const [name, text] of Object.entries(options.files ?? {})) await writeFile(join(dir, name), text);
  const entries = [...weights].map(([name, w]) => ({ name, dtype, shape: w.shape, bytes: encode(w.values, dtype) }));
  if (shards === 1) {
    await writeFile(join(dir, 'model.safetensors'), safetensorsBytes(entries));
    return;
  }
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < shards; s++) {
    const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const mine = entries.filter((_, i) => i % shards === s);
    for (const e of mine) weightMap[e.name] = file;
    await writeFile(join(dir, file), safetensorsBytes(mine));
  }
  await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
}

/**
 * A character-level BPE tokenizer.json (no merges): ids 0–3 are `<unk>`, `<pad>`, `</s>`, `<s>`,
 * then `chars` (default a–z, space, period); prompts start with `<s>` through its post-processor.
 */
export function charTokenizerJson(
  postProcessor: unknown = templateWithBos(),
  chars: readonly string[] = [...'abcdefghijklmnopqrstuvwxyz .'],
): Record<string, unknown> {
  const specials = ['<unk>', '<pad>', '</s>', '<s>'];
  const vocab = Object.fromEntries([...specials, ...chars].map((t, i) => [t, i]));
  return {
    version: '1.0',
    added_tokens: specials.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: null,
    post_processor: postProcessor,
    decoder: null,
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
  };
}

/** A `TemplateProcessing` post-processor that puts `<s>` (id 3) before the text. */
export function templateWithBos(): Record<string, unknown> {
  return {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [],
    special_tokens: { '<s>': { id: '<s>', ids: [3], tokens: ['<s>'] } },
  };
}
