/**
 * A GGUF (v3) writer for Llama-architecture policies, enough for llama.cpp to load them: the
 * header's key–values, the tensor infos and the tensor data (F32; Q8_0: blocks of 32 int8
 * values with an f16 scale; Q4_0: blocks of 32 4-bit values with an f16 scale), each aligned to 32 bytes (ggml's GGUF spec). `policyToGguf` maps a GRPO.ts transformer checkpoint (`Policy.save`) onto
 * llama.cpp's tensor names and layouts as its `convert_hf_to_gguf.py` does for Llama: projections
 * stored `[out, in]` row-major (GGUF dims `[in, out]`), and the rows of `wq`/`wk` permuted within
 * each head because llama.cpp's rotary embedding rotates adjacent pairs where Hugging Face's (and
 * ours) rotates halves.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CheckpointError, type Policy } from '@grpo/core';

/** GGUF metadata value types. */
const T = { UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9 } as const;
/**
 * How a tensor's values are stored: `F32`, `Q8_0` (ggml's 8-bit blocks, ~3.8× smaller) or `Q4_0`
 * (its 4-bit blocks, ~7.1× smaller and the coarsest of the three).
 */
export type GgmlType = 'F32' | 'Q8_0' | 'Q4_0';
/** ggml's tensor type ids (`enum ggml_type`). */
const GGML_TYPE: Readonly<Record<GgmlType, number>> = { F32: 0, Q4_0: 2, Q8_0: 8 };
/** llama.cpp's `llama_ftype` of a file whose matrices are mostly of a type. */
const LLAMA_FTYPE: Readonly<Record<GgmlType, number>> = { F32: 0, Q4_0: 2, Q8_0: 7 };
const ALIGNMENT = 32;
/** Values per Q8_0 block (ggml's QK8_0); a block is an f16 scale and 32 int8 quants, 34 bytes. */
export const Q8_0_BLOCK = 32;
const Q8_0_BYTES = 2 + Q8_0_BLOCK;
/** Values per Q4_0 block (ggml's QK4_0); a block is an f16 scale and 16 bytes of 4-bit quants, 18 bytes. */
export const Q4_0_BLOCK = 32;
const Q4_0_BYTES = 2 + Q4_0_BLOCK / 2;

export type GgufValue =
  | { type: 'u32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'strings'; value: readonly string[] }
  | { type: 'f32s'; value: readonly number[] }
  | { type: 'i32s'; value: readonly number[] };

export interface GgufTensor {
  readonly name: string;
  /** ggml's dims, innermost first (a row-major `[rows, cols]` matrix is `[cols, rows]`). */
  readonly dims: readonly number[];
  readonly data: Float32Array;
  /** Storage type (default F32); Q8_0 and Q4_0 need the innermost dim to be a multiple of 32. */
  readonly type?: GgmlType;
}

/**
 * The IEEE 754 half-precision bits of `x`, rounded to nearest even (subnormals and ±∞ included),
 * as ggml's `GGML_FP32_TO_FP16` gives them; Node 20 has no Float16Array.
 */
export function f32ToF16(x: number): number {
  const f = new Float32Array([x]);
  const bits = new Uint32Array(f.buffer)[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // ∞ or NaN
  const e = exp - 127 + 15; // rebias
  if (e >= 0x1f) return sign | 0x7c00; // overflow → ∞
  if (e <= 0) {
    // Subnormal half (or 0): shift the mantissa with its implicit 1 right by 1 − e more places.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // Round to nearest even; a carry out of the mantissa correctly bumps the exponent (up to ∞).
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}

/**
 * `values` quantised to ggml's Q8_0: per block of 32, the scale d = max|x| / 127 (stored as f16)
 * and the quants round(x / d) as int8 — `quantize_row_q8_0_ref` of ggml-quants.c, described in
 * ggml's docs; llama.cpp dequantises x ≈ d · q.
 */
export function quantizeQ8_0(values: Float32Array): Buffer {
  if (values.length % Q8_0_BLOCK) throw new Error(`Q8_0 quantises blocks of ${Q8_0_BLOCK} values; got ${values.length}`);
  const blocks = values.length / Q8_0_BLOCK;
  const out = Buffer.alloc(blocks * Q8_0_BYTES);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK; j++) amax = Math.max(amax, Math.abs(values[b * Q8_0_BLOCK + j]!));
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    const at = b * Q8_0_BYTES;
    out.writeUInt16LE(f32ToF16(d), at);
    // C's roundf: halves away from zero.
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      const v = Math.fround(values[b * Q8_0_BLOCK + j]! * id);
      out.writeInt8(Math.sign(v) * Math.round(Math.abs(v)), at + 2 + j);
    }
  }
  return out;
}

/**
 * `values` quantised to ggml's Q4_0: per block of 32, the value of largest magnitude m (sign kept)
 * gives the scale d = m / −8 (stored as f16), and each value x becomes the 4-bit q = min(15,
 * ⌊x / d + 8.5⌋), so that llama.cpp dequantises x ≈ d · (q − 8). The 16 bytes after the scale hold
 * value j in the low nibble of byte j and value j + 16 in its high nibble — ggml's
 * `quantize_row_q4_0_ref` and `block_q4_0` layout, written from their definition.
 */
export function quantizeQ4_0(values: Float32Array): Buffer {
  if (values.length % Q4_0_BLOCK) throw new Error(`Q4_0 quantises blocks of ${Q4_0_BLOCK} values; got ${values.length}`);
  const blocks = values.length / Q4_0_BLOCK;
  const half = Q4_0_BLOCK / 2;
  const out = Buffer.alloc(blocks * Q4_0_BYTES);
  for (let b = 0; b < blocks; b++) {
    const x = values.subarray(b * Q4_0_BLOCK, (b + 1) * Q4_0_BLOCK);
    let amax = 0;
    let max = 0;
    for (const v of x)
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    // The sign makes the extreme value land on q = 0 (−8 · d): the 16 levels run −8…7.
    const d = Math.fround(max / -8);
    const id = d ? Math.fround(1 / d) : 0;
    const at = b * Q4_0_BYTES;
    out.writeUInt16LE(f32ToF16(d), at);
    // C's (int8_t) cast truncates towards 0; x / d + 8.5 ≥ 0.5 here, so that is ⌊·⌋.
    const q = (v: number) => Math.min(15, Math.trunc(Math.fround(Math.fround(v * id) + 8.5)));
    for (let j = 0; j < half; j++) out[at + 2 + j] = q(x[j]!) | (q(x[j + half]!) << 4);
  }
  return out;
}

/** Each quantised type's block length (the row length must be a multiple of it) and encoder. */
const QUANTISED: Readonly<Record<Exclude<GgmlType, 'F32'>, { block: number; quantize: (values: Float32Array) => Buffer }>> = {
  Q8_0: { block: Q8_0_BLOCK, quantize: quantizeQ8_0 },
  Q4_0: { block: Q4_0_BLOCK, quantize: quantizeQ4_0 },
};

/** The stored bytes of a tensor in its type. */
function tensorBytes(t: GgufTensor): Buffer {
  const type = t.type ?? 'F32';
  if (type === 'F32') return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const { block, quantize } = QUANTISED[type];
  if (t.dims[0]! % block) throw new Error(`GGUF tensor ${t.name}: ${type} needs rows of a multiple of ${block} values, not ${t.dims[0]}`);
  return quantize(t.data);
}

class Writer {
  private readonly parts: Buffer[] = [];
  length = 0;
  private push(b: Buffer) {
    this.parts.push(b);
    this.length += b.length;
  }
  u32(v: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  i32(v: number) {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.push(b);
  }
  u64(v: number) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  f32(v: number) {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.push(b);
  }
  string(s: string) {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  bytes(b: Buffer) {
    this.push(b);
  }
  pad() {
    const n = (ALIGNMENT - (this.length % ALIGNMENT)) % ALIGNMENT;
    if (n) this.push(Buffer.alloc(n));
  }
  buffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function writeValue(w: Writer, v: GgufValue): void {
  switch (v.type) {
    case 'u32':
      w.u32(T.UINT32);
      return w.u32(v.value);
    case 'f32':
      w.u32(T.FLOAT32);
      return w.f32(v.value);
    case 'bool':
      w.u32(T.BOOL);
      return w.bytes(Buffer.from([v.value ? 1 : 0]));
    case 'string':
      w.u32(T.STRING);
      return w.string(v.value);
    case 'strings':
      w.u32(T.ARRAY);
      w.u32(T.STRING);
      w.u64(v.value.length);
      return v.value.forEach((s) => w.string(s));
    case 'f32s':
      w.u32(T.ARRAY);
      w.u32(T.FLOAT32);
      w.u64(v.value.length);
      return v.value.forEach((x) => w.f32(x));
    case 'i32s':
      w.u32(T.ARRAY);
      w.u32(T.INT32);
      w.u64(v.value.length);
      return v.value.forEach((x) => w.i32(x));
  }
}

/** The bytes of a GGUF v3 file with these key–values and tensors (each in its `type`). */
export function encodeGguf(metadata: Readonly<Record<string, GgufValue>>, tensors: readonly GgufTensor[]): Buffer {
  const w = new Writer();
  w.bytes(Buffer.from('GGUF', 'ascii'));
  w.u32(3);
  w.u64(tensors.length);
  w.u64(Object.keys(metadata).length);
  for (const [key, value] of Object.entries(metadata)) {
    w.string(key);
    writeValue(w, value);
  }
  for (const t of tensors)
    if (t.dims.reduce((a, b) => a * b, 1) !== t.data.length)
      throw new Error(`GGUF tensor ${t.name}: dims ${t.dims.join('×')} do not hold ${t.data.length} values`);
  const data = tensors.map(tensorBytes);
  let offset = 0;
  const offsets = data.map((bytes) => {
    const at = offset;
    offset += Math.ceil(bytes.length / ALIGNMENT) * ALIGNMENT;
    return at;
  });
  tensors.forEach((t, i) => {
    w.string(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(GGML_TYPE[t.type ?? 'F32']);
    w.u64(offsets[i]!);
  });
  w.pad();
  for (const bytes of data) {
    w.bytes(bytes);
    w.pad();
  }
  return w.buffer();
}

/** A `[rows, cols]` row-major matrix transposed to `[cols, rows]`. */
export function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/**
 * The rows of an `[nHeads·hd, in]` projection reordered within each head from rotate-half to
 * adjacent pairs: row `2i + s` of a head takes row `s·hd/2 + i` (convert_hf_to_gguf's `permute`).
 */
export function permuteRope(data: Float32Array, nHeads: number, cols: number): Float32Array {
  const hd = data.length / cols / nHeads;
  const half = hd / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < nHeads; h++)
    for (let i = 0; i < half; i++)
      for (let s = 0; s < 2; s++) out.set(data.subarray((h * hd + s * half + i) * cols, (h * hd + s * half + i + 1) * cols), (h * hd + 2 * i + s) * cols);
  return out;
}

/** What a GRPO.ts transformer checkpoint's config.json says about the model. */
interface ModelConfig {
  vocabSize: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  nKvHeads?: number;
  ffnDim: number;
  maxSeqLen: number;
  ropeBase: number;
  normEps: number;
  tiedEmbeddings?: boolean;
  qkvBias?: boolean;
  qkNorm?: boolean;
  ropeScaling?: unknown;
}

/** The tensors of a safetensors file (F32 only), by name, with their shapes. */
export async function readSafetensors(file: string): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const bytes = await readFile(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (info.dtype !== 'F32') throw new CheckpointError(`${file}: tensor ${name} is ${info.dtype}; the GGUF export reads F32 checkpoints`);
    const [from, to] = info.data_offsets;
    const slice = bytes.subarray(8 + n + from, 8 + n + to);
    out.set(name, { shape: info.shape, data: new Float32Array(slice.buffer.slice(slice.byteOffset, slice.byteOffset + slice.byteLength)) });
  }
  return out;
}

/** The transformer's weight of each PEFT module name (`layers.N.<weight>`). */
const LORA_WEIGHTS: Record<string, string> = {
  q_proj: 'attn.wq',
  k_proj: 'attn.wk',
  v_proj: 'attn.wv',
  o_proj: 'attn.wo',
  gate_proj: 'mlp.w1',
  up_proj: 'mlp.w3',
  down_proj: 'mlp.w2',
};

/**
 * A policy that trains LoRA adapters saves its frozen base (`model.safetensors`) and the adapters
 * in PEFT's files beside it; llama.cpp is given what the policy computes, the merged weights
 * W + s·A·B (s = alpha / r, or alpha / √r with rsLoRA), summed in float64. PEFT stores
 * `lora_A.weight` as `[r, in]` (our A transposed) and `lora_B.weight` as `[out, r]`. Nothing to do
 * without `adapter_config.json`.
 */
async function mergeLoraAdapters(dir: string, weights: Map<string, { shape: number[]; data: Float32Array }>): Promise<void> {
  const configFile = path.join(dir, 'adapter_config.json');
  let config: { r?: unknown; lora_alpha?: unknown; use_rslora?: unknown };
  try {
    config = JSON.parse(await readFile(configFile, 'utf8')) as typeof config;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new CheckpointError(`${configFile}: ${(error as Error).message}`);
  }
  const { r, lora_alpha: alpha } = config;
  if (typeof r !== 'number' || typeof alpha !== 'number') throw new CheckpointError(`${configFile}: expected numbers r and lora_alpha`);
  const scale = config.use_rslora === true ? alpha / Math.sqrt(r) : alpha / r;
  const file = path.join(dir, 'adapter_model.safetensors');
  const adapters = await readSafetensors(file);
  for (const [key, a] of adapters) {
    const m = /^base_model\.model\.model\.layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_A\.weight$/.exec(key);
    if (!m) continue;
    const name = `layers.${m[1]}.${LORA_WEIGHTS[m[2]!] ?? m[2]}`;
    const w = weights.get(name);
    const b = adapters.get(key.replace('lora_A', 'lora_B'));
    if (!w || !b) throw new CheckpointError(`${file}: ${key} has no ${w ? 'lora_B partner' : `base weight ${name}`}`);
    const [inDim, outDim] = w.shape as [number, number];
    if (a.shape.join() !== `${r},${inDim}` || b.shape.join() !== `${outDim},${r}`)
      throw new CheckpointError(
        `${file}: ${key} is [${a.shape.join(', ')}] and its lora_B [${b.shape.join(', ')}], for a [${inDim}, ${outDim}] weight at r ${r}`,
      );
    const merged = new Float32Array(w.data.length);
    for (let i = 0; i < inDim; i++)
      for (let j = 0; j < outDim; j++) {
        let acc = 0;
        for (let k = 0; k < r; k++) acc += a.data[k * inDim + i]! * b.data[j * r + k]!;
        merged[i * outDim + j] = w.data[i * outDim + j]! + scale * acc;
      }
    weights.set(name, { shape: w.shape, data: merged });
  }
}

/** Token names for the GGUF vocabulary (for reading only): each id's decoded text when it is unique and non-empty, else `<id:N>`; specials are control tokens. */
function vocabulary(policy: Policy, size: number): { tokens: string[]; types: number[] } {
  const t = policy.tokenizer;
  const seen = new Set<string>();
  const tokens: string[] = [];
  const types: number[] = [];
  for (let id = 0; id < size; id++) {
    const special = id === t.bosId || id === t.eosId || id === t.padId;
    let piece = '';
    try {
      piece = special ? '' : t.decode([id]);
    } catch {
      piece = '';
    }
    if (!piece || seen.has(piece)) piece = `<id:${id}>`;
    seen.add(piece);
    tokens.push(piece);
    // llama.cpp token types: 1 normal, 3 control.
    types.push(special ? 3 : 1);
  }
  return { tokens, types };
}

export interface GgufExportOptions {
  /** `general.name` (default `grpo-policy`). */
  name?: string;
  /**
   * Weight type (default F32). `Q8_0` (or `Q4_0`) stores every matrix whose rows are a multiple of
   * 32 values in that type, as `llama-quantize … Q8_0` does; norms, and matrices with other row
   * lengths, stay F32. (`llama-quantize … Q4_0` would keep the output matrix at 6 bits; here every
   * matrix gets 4, the larger mismatch being the point of the option.)
   */
  type?: GgmlType;
}

/**
 * Writes `policy` as a llama.cpp-loadable GGUF file (F32, Q8_0 or Q4_0) at `file`: saves it to a
 * temporary directory (`Policy.save`, the transformer checkpoint layout) and converts that. Throws
 * a CheckpointError for what llama.cpp's `llama` architecture cannot express (QKV biases, QK
 * norms, rope scaling).
 */
export async function policyToGguf(policy: Policy, file: string, options: GgufExportOptions = {}): Promise<void> {
  const { name = 'grpo-policy', type = 'F32' } = options;
  /** A matrix's storage type: the quantised type where its rows split into whole blocks. */
  const matrixType = (rowLength: number): GgmlType => (type !== 'F32' && rowLength % QUANTISED[type].block === 0 ? type : 'F32');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'grpo-gguf-'));
  try {
    await policy.save(dir);
    const config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as { format?: string; model?: ModelConfig };
    const m = config.model;
    if (config.format !== 'grpo.transformer' || !m)
      throw new CheckpointError(
        `${path.join(dir, 'config.json')}: not a GRPO.ts transformer checkpoint; the GGUF export needs @grpo/plugin-transformer's policy`,
      );
    if (m.qkvBias || m.qkNorm || m.ropeScaling)
      throw new CheckpointError(
        `the GGUF export writes plain Llama models; this policy has ${m.qkvBias ? 'QKV biases' : m.qkNorm ? 'QK norms' : 'rope scaling'}`,
      );
    const weights = await readSafetensors(path.join(dir, 'model.safetensors'));
    await mergeLoraAdapters(dir, weights);
    const get = (n: string) => {
      const t = weights.get(n);
      if (!t) throw new CheckpointError(`${path.join(dir, 'model.safetensors')} has no tensor ${n}`);
      return t;
    };
    const nKv = m.nKvHeads ?? m.nHeads;
    const hd = m.dModel / m.nHeads;
    /** Ours `[in, out]` → llama.cpp's `[out, in]` row-major, GGUF dims `[in, out]`. */
    const projection = (ours: string, gguf: string, permuteHeads?: number): GgufTensor => {
      const { shape, data } = get(ours);
      const [inDim, outDim] = shape as [number, number];
      let rows = transpose(data, inDim, outDim);
      if (permuteHeads) rows = permuteRope(rows, permuteHeads, inDim);
      return { name: gguf, dims: [inDim, outDim], data: rows, type: matrixType(inDim) };
    };
    const vector = (ours: string, gguf: string): GgufTensor => ({ name: gguf, dims: [get(ours).data.length], data: get(ours).data });
    const tensors: GgufTensor[] = [{ name: 'token_embd.weight', dims: [m.dModel, m.vocabSize], data: get('embed.weight').data, type: matrixType(m.dModel) }];
    for (let i = 0; i < m.nLayers; i++) {
      const p = `layers.${i}`;
      const b = `blk.${i}`;
      tensors.push(
        vector(`${p}.attn_norm.weight`, `${b}.attn_norm.weight`),
        projection(`${p}.attn.wq`, `${b}.attn_q.weight`, m.nHeads),
        projection(`${p}.attn.wk`, `${b}.attn_k.weight`, nKv),
        projection(`${p}.attn.wv`, `${b}.attn_v.weight`),
        projection(`${p}.attn.wo`, `${b}.attn_output.weight`),
        vector(`${p}.mlp_norm.weight`, `${b}.ffn_norm.weight`),
        projection(`${p}.mlp.w1`, `${b}.ffn_gate.weight`),
        projection(`${p}.mlp.w3`, `${b}.ffn_up.weight`),
        projection(`${p}.mlp.w2`, `${b}.ffn_down.weight`),
      );
    }
    tensors.push(vector('norm.weight', 'output_norm.weight'));
    if (!m.tiedEmbeddings) tensors.push(projection('lm_head.weight', 'output.weight'));
    const { tokens, types } = vocabulary(policy, m.vocabSize);
    const t = policy.tokenizer;
    const metadata: Record<string, GgufValue> = {
      'general.architecture': { type: 'string', value: 'llama' },
      'general.name': { type: 'string', value: name },
      'general.file_type': { type: 'u32', value: LLAMA_FTYPE[type] },
      'llama.context_length': { type: 'u32', value: m.maxSeqLen },
      'llama.embedding_length': { type: 'u32', value: m.dModel },
      'llama.block_count': { type: 'u32', value: m.nLayers },
      'llama.feed_forward_length': { type: 'u32', value: m.ffnDim },
      'llama.rope.dimension_count': { type: 'u32', value: hd },
      'llama.attention.head_count': { type: 'u32', value: m.nHeads },
      'llama.attention.head_count_kv': { type: 'u32', value: nKv },
      'llama.attention.layer_norm_rms_epsilon': { type: 'f32', value: m.normEps },
      'llama.rope.freq_base': { type: 'f32', value: m.ropeBase },
      'llama.vocab_size': { type: 'u32', value: m.vocabSize },
      // A byte-level BPE vocabulary without merges: llama.cpp's tokenizer then never fails on text it
      // cannot spell (node-llama-cpp tokenizes probe text at load; an SPM vocabulary without all 256
      // byte tokens aborts there). Rollouts go by token ids, so llama.cpp's own text is never used.
      'tokenizer.ggml.model': { type: 'string', value: 'gpt2' },
      'tokenizer.ggml.tokens': { type: 'strings', value: tokens },
      'tokenizer.ggml.scores': { type: 'f32s', value: tokens.map(() => 0) },
      'tokenizer.ggml.token_type': { type: 'i32s', value: types },
      'tokenizer.ggml.merges': { type: 'strings', value: [] },
      'tokenizer.ggml.pre': { type: 'string', value: 'default' },
      'tokenizer.ggml.bos_token_id': { type: 'u32', value: t.bosId },
      'tokenizer.ggml.eos_token_id': { type: 'u32', value: t.eosId },
      'tokenizer.ggml.padding_token_id': { type: 'u32', value: t.padId },
      'tokenizer.ggml.add_bos_token': { type: 'bool', value: false },
    };
    await writeFile(file, encodeGguf(metadata, tensors));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
