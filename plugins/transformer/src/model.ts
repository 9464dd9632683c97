/**
 * The Llama-style decoder: RMSNorm, rotary embeddings (rotate-half), SwiGLU, grouped-query
 * attention, tied or separate output embedding. Optional architecture extras for Hugging Face
 * models (config.ts, `ArchitectureExtras`): q/k/v biases (Qwen2), per-head q/k RMSNorm before the
 * rotary embedding (Qwen3), a head size other than dModel/nHeads, Llama 3 rotary scaling. With
 * every extra off the computation is exactly GRPO.ts's original one, op for op.
 *
 * Layout choices for speed on tfjs-backend-wasm (see kernels.ts): every product is a 2-D
 * `mm` or a per-head `bmm`; a trainable token embedding is a one-hot matmul (wasm has no gradient for
 * `gather`); rotate-half is a product with a fixed `[hd, hd]` signed permutation instead of
 * slices (wasm's `slice` copies its whole input).
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '@grpo/core';
import { headDim, type Llama3RopeScaling, type TransformerConfig } from './config.js';
import { bmm, decodeAttention, gatherRows, hasRope, hasSwiGlu, mm, mmTransposedB, ropeKernel, swiGluKernel } from './kernels.js';

export type WeightMap = Map<string, tf.Variable>;

/**
 * Extra terms added to linear projections (low-rank adapters, lora.ts): `delta(name, x)` is added
 * to `x · W` for the weight `name` (e.g. `layers.0.attn.wq`), or undefined when that weight has none.
 */
export interface LinearDelta {
  delta(name: string, x: tf.Tensor2D): tf.Tensor2D | undefined;
}

/** `x · W` for the weight `name`, plus its adapter's term when `lora` has one. */
function linear(weights: WeightMap, name: string, x: tf.Tensor2D, lora: LinearDelta | undefined): tf.Tensor2D {
  const out = mm(x, w(weights, name));
  const extra = lora?.delta(name, x);
  return extra ? tf.add(out, extra) : out;
}

/** Weight names and shapes, in checkpoint order. */
export function weightShapes(cfg: TransformerConfig): [string, number[]][] {
  const hd = headDim(cfg);
  const out: [string, number[]][] = [['embed.weight', [cfg.vocabSize, cfg.dModel]]];
  for (let i = 0; i < cfg.nLayers; i++) {
    const p = `layers.${i}`;
    out.push(
      [`${p}.attn_norm.weight`, [cfg.dModel]],
      [`${p}.attn.wq`, [cfg.dModel, cfg.nHeads * hd]],
      [`${p}.attn.wk`, [cfg.dModel, cfg.nKvHeads * hd]],
      [`${p}.attn.wv`, [cfg.dModel, cfg.nKvHeads * hd]],
      ...((cfg.qkvBias
        ? [
            [`${p}.attn.bq`, [cfg.nHeads * hd]],
            [`${p}.attn.bk`, [cfg.nKvHeads * hd]],
            [`${p}.attn.bv`, [cfg.nKvHeads * hd]],
          ]
        : []) as [string, number[]][]),
      ...((cfg.qkNorm
        ? [
            [`${p}.attn.q_norm.weight`, [hd]],
            [`${p}.attn.k_norm.weight`, [hd]],
          ]
        : []) as [string, number[]][]),
      [`${p}.attn.wo`, [cfg.nHeads * hd, cfg.dModel]],
      [`${p}.mlp_norm.weight`, [cfg.dModel]],
      [`${p}.mlp.w1`, [cfg.dModel, cfg.ffnDim]],
      [`${p}.mlp.w3`, [cfg.dModel, cfg.ffnDim]],
      [`${p}.mlp.w2`, [cfg.ffnDim, cfg.dModel]],
    );
  }
  out.push(['norm.weight', [cfg.dModel]]);
  if (!cfg.tiedEmbeddings) out.push(['lm_head.weight', [cfg.dModel, cfg.vocabSize]]);
  return out;
}

const isBias = (name: string) => /\.attn\.b[qkv]$/.test(name);

/**
 * Deterministic init from `seed` (independent of the backend): N(0, 0.02) for matrices, the
 * residual output projections (`wo`, `w2`) scaled by 1/√(2·nLayers), ones for norm gains, zeros
 * for biases.
 */
export function initWeights(cfg: TransformerConfig, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of weightShapes(cfg)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (name.endsWith('norm.weight')) data.fill(1);
    else if (!isBias(name)) {
      const std = name.endsWith('.wo') || name.endsWith('.w2') ? 0.02 / Math.sqrt(2 * cfg.nLayers) : 0.02;
      for (let i = 0; i < size; i += 2) {
        // Box–Muller: two normals per two uniforms.
        const u1 = 1 - rng.next();
        const u2 = rng.next();
        const r = Math.sqrt(-2 * Math.log(u1)) * std;
        data[i] = r * Math.cos(2 * Math.PI * u2);
        if (i + 1 < size) data[i + 1] = r * Math.sin(2 * Math.PI * u2);
      }
    }
    out.set(name, data);
  }
  return out;
}

/**
 * Variables named `${prefix}/${name}`. Values given as tensors are shared, not copied (tfjs
 * tensors are immutable and reference-counted, so a snapshot costs no copy).
 */
export function makeVariables(cfg: TransformerConfig, values: ReadonlyMap<string, Float32Array | tf.Tensor>, trainable: boolean, prefix: string): WeightMap {
  const vars: WeightMap = new Map();
  for (const [name, shape] of weightShapes(cfg)) {
    const data = values.get(name);
    if (!data) throw new Error(`missing weight ${name}`);
    if (data instanceof tf.Tensor) {
      vars.set(name, tf.variable(data, trainable, `${prefix}/${name}`));
      continue;
    }
    const init = tf.tensor(data, shape, 'float32');
    vars.set(name, tf.variable(init, trainable, `${prefix}/${name}`));
    init.dispose();
  }
  return vars;
}

function w<R extends tf.Rank>(weights: WeightMap, name: string): tf.Tensor<R> {
  const v = weights.get(name);
  if (!v) throw new Error(`missing weight ${name}`);
  return v as unknown as tf.Tensor<R>;
}

/** Rotary tables for positions `0..maxSeqLen-1`: `cos`, `sin` as `[maxSeqLen, hd]` (rotate-half layout). */
export interface RopeTables {
  cos: Float32Array;
  sin: Float32Array;
  hd: number;
}

export function ropeTables(cfg: TransformerConfig): RopeTables {
  const hd = headDim(cfg);
  const half = hd / 2;
  const cos = new Float32Array(cfg.maxSeqLen * hd);
  const sin = new Float32Array(cfg.maxSeqLen * hd);
  const scaled = cfg.ropeScaling && llama3InvFreq(cfg.ropeBase, hd, cfg.ropeScaling);
  for (let p = 0; p < cfg.maxSeqLen; p++) {
    for (let i = 0; i < half; i++) {
      const angle = scaled ? p * (scaled[i] as number) : p / Math.pow(cfg.ropeBase, (2 * i) / hd);
      cos[p * hd + i] = cos[p * hd + i + half] = Math.cos(angle);
      sin[p * hd + i] = sin[p * hd + i + half] = Math.sin(angle);
    }
  }
  return { cos, sin, hd };
}

/**
 * Inverse frequencies of Llama 3's rotary scaling (Hugging Face `_compute_llama3_parameters`):
 * wavelengths longer than `originalMaxPositionEmbeddings / lowFreqFactor` are divided by
 * `factor`, shorter than `… / highFreqFactor` kept, and those between interpolated smoothly.
 */
export function llama3InvFreq(base: number, hd: number, s: Llama3RopeScaling): Float64Array {
  const out = new Float64Array(hd / 2);
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  for (let i = 0; i < hd / 2; i++) {
    const inv = 1 / Math.pow(base, (2 * i) / hd);
    const wavelen = (2 * Math.PI) / inv;
    if (wavelen < highWavelen) out[i] = inv;
    else if (wavelen > lowWavelen) out[i] = inv / s.factor;
    else {
      const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out[i] = (1 - smooth) * (inv / s.factor) + smooth * inv;
    }
  }
  return out;
}

/** `[hd, hd]` matrix R with `x·R = rotate_half(x) = [-x₂, x₁]`. */
export function rotateHalfMatrix(hd: number): tf.Tensor2D {
  const half = hd / 2;
  const r = new Float32Array(hd * hd);
  for (let j = 0; j < half; j++) {
    r[(j + half) * hd + j] = -1;
    r[j * hd + j + half] = 1;
  }
  return tf.tensor2d(r, [hd, hd]);
}

/** Rotary tables gathered for explicit positions: `[rows, hd]` each. */
export function ropeAt(tables: RopeTables, positions: readonly number[], scale = 1): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
  const { hd } = tables;
  const cos = new Float32Array(positions.length * hd);
  const sin = new Float32Array(positions.length * hd);
  positions.forEach((p, r) => {
    for (let i = 0; i < hd; i++) {
      cos[r * hd + i] = (tables.cos[p * hd + i] as number) * scale;
      sin[r * hd + i] = (tables.sin[p * hd + i] as number) * scale;
    }
  });
  return { cos: tf.tensor2d(cos, [positions.length, hd]), sin: tf.tensor2d(sin, [positions.length, hd]) };
}

export function rmsNorm(x: tf.Tensor2D, gain: tf.Tensor1D, eps: number): tf.Tensor2D {
  const ms = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), gain);
}

/** SwiGLU's `silu(gate)·up` (one kernel where the backend has it, with the same float results). */
function swiGlu(gate: tf.Tensor2D, up: tf.Tensor2D): tf.Tensor2D {
  if (hasSwiGlu()) return swiGluKernel(gate, up);
  return tf.mul(tf.mul(gate, tf.sigmoid(gate)), up);
}

/** Per-call attention context for a full-sequence pass over `[B, T]` tokens. */
export interface SeqContext {
  B: number;
  T: number;
  /** Rotary tables broadcastable to `[B, H, T, hd]`: `[1|B, 1, T, hd]`; q tables carry 1/√hd. */
  cosQ: tf.Tensor4D;
  sinQ: tf.Tensor4D;
  cosK: tf.Tensor4D;
  sinK: tf.Tensor4D;
  /** Additive attention bias broadcastable to `[B, H, T, T]`: `[1|B, 1, T, T]`. */
  bias: tf.Tensor4D;
  /** rotate-half as a signed permutation; absent where the backend has the `GrpoRope` kernel. */
  rot?: tf.Tensor2D;
}

export function causalBias(T: number, padLeft?: readonly number[]): tf.Tensor4D {
  const B = padLeft ? padLeft.length : 1;
  const data = new Float32Array(B * T * T);
  for (let b = 0; b < B; b++) {
    const pad = padLeft ? (padLeft[b] as number) : 0;
    for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) if (j > i || j < pad) data[(b * T + i) * T + j] = -1e9;
  }
  return tf.tensor4d(data, [B, 1, T, T]);
}

/** Context for right-padded (or unpadded) sequences starting at position 0. */
export function seqContext(cfg: TransformerConfig, tables: RopeTables, B: number, T: number): SeqContext {
  const positions = Array.from({ length: T }, (_, i) => i);
  return contextFor(cfg, tables, B, T, positions, 1, causalBias(T));
}

/** Context for left-padded prompts: position of token t in row b is `t - padLeft[b]`. */
export function leftPaddedContext(cfg: TransformerConfig, tables: RopeTables, T: number, padLeft: readonly number[]): SeqContext {
  const positions: number[] = [];
  for (const pad of padLeft) for (let t = 0; t < T; t++) positions.push(Math.max(0, t - pad));
  return contextFor(cfg, tables, padLeft.length, T, positions, padLeft.length, causalBias(T, padLeft));
}

/**
 * Context for T tokens per row at explicit rotary positions (`positions[b][t]`) with an explicit
 * additive bias `[B, 1, T, S+T]` (a chunk that continues cached sequences, see `forwardHidden`'s `past`).
 */
export function chunkContext(cfg: TransformerConfig, tables: RopeTables, positions: readonly (readonly number[])[], bias: tf.Tensor4D): SeqContext {
  const T = positions[0]?.length ?? 0;
  return contextFor(cfg, tables, positions.length, T, positions.flat(), positions.length, bias);
}

function contextFor(cfg: TransformerConfig, tables: RopeTables, B: number, T: number, positions: number[], rows: number, bias: tf.Tensor4D): SeqContext {
  const hd = headDim(cfg);
  const q = ropeAt(tables, positions, 1 / Math.sqrt(hd));
  const k = ropeAt(tables, positions);
  const shape: [number, number, number, number] = [rows, 1, T, hd];
  return {
    B,
    T,
    cosQ: q.cos.reshape(shape),
    sinQ: q.sin.reshape(shape),
    cosK: k.cos.reshape(shape),
    sinK: k.sin.reshape(shape),
    bias,
    ...(hasRope() ? {} : { rot: rotateHalfMatrix(hd) }),
  };
}

/** x·cos + rotate_half(x)·sin for x `[B, H, T, hd]` (one kernel where the backend has it, with the same float results). */
function applyRope(x: tf.Tensor4D, cos: tf.Tensor4D, sin: tf.Tensor4D, rot: tf.Tensor2D | undefined): tf.Tensor4D {
  if (!rot) return ropeKernel(x, cos, sin);
  const [B, H, T, hd] = x.shape;
  const rotated = mm(x.reshape([B * H * T, hd]), rot).reshape([B, H, T, hd]);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin));
}

/** Repeats kv heads `[B, Hkv, ...rest]` to `[B, Hkv·rep, ...rest]` (a broadcast, so its gradient is a sum). */
function repeatKv<T extends tf.Tensor4D>(x: T, rep: number): T {
  if (rep === 1) return x;
  const [B, Hkv, a, b] = x.shape;
  return tf.mul(x.reshape([B, Hkv, 1, a, b]), tf.ones([1, 1, rep, 1, 1])).reshape([B, Hkv * rep, a, b]) as T;
}

export type LayerKv = {
  /** Keys after rotary embedding, `[B, Hkv, T, hd]`. */
  k: tf.Tensor4D;
  v: tf.Tensor4D;
};

/**
 * Full-sequence forward pass over `x` `[B·T, d]` embeddings; returns the final hidden states
 * `[B·T, d]` (after the final norm) and, when `keepKv`, every layer's keys and values.
 *
 * With `past` (every layer's cached keys and values `[B, Hkv, S, hd]`) the T tokens continue
 * those sequences: they attend to the S cached positions and to each other, `ctx.bias` is
 * `[B, 1, T, S+T]`, and the keys and values kept are the cache extended to S+T.
 */
export function forwardHidden(
  cfg: TransformerConfig,
  weights: WeightMap,
  ids: Int32Array,
  ctx: SeqContext,
  keepKv = false,
  lora?: LinearDelta,
  past?: readonly LayerKv[],
): { hidden: tf.Tensor2D; kv: LayerKv[] } {
  const { B, T } = ctx;
  const H = cfg.nHeads;
  const Hkv = cfg.nKvHeads;
  const hd = headDim(cfg);
  const N = B * T;
  const kv: LayerKv[] = [];
  let x = embed(cfg, weights, ids);
  for (let l = 0; l < cfg.nLayers; l++) {
    const p = `layers.${l}`;
    const h = rmsNorm(x, w(weights, `${p}.attn_norm.weight`), cfg.normEps);
    const toHeads = (t: tf.Tensor2D, heads: number) => t.reshape([B, T, heads, hd]).transpose([0, 2, 1, 3]) as tf.Tensor4D;
    const q = applyRope(toHeads(project(cfg, weights, h, p, lora, 'q', H), H), ctx.cosQ, ctx.sinQ, ctx.rot);
    const kNew = applyRope(toHeads(project(cfg, weights, h, p, lora, 'k', Hkv), Hkv), ctx.cosK, ctx.sinK, ctx.rot);
    const vNew = toHeads(project(cfg, weights, h, p, lora, 'v', Hkv), Hkv);
    const cached = past?.[l];
    const k = cached ? (tf.concat([cached.k, kNew], 2) as tf.Tensor4D) : kNew;
    const v = cached ? (tf.concat([cached.v, vNew], 2) as tf.Tensor4D) : vNew;
    if (keepKv) kv.push({ k, v });
    const S = k.shape[2];
    const kT = repeatKv(k.transpose([0, 1, 3, 2]) as tf.Tensor4D, H / Hkv).reshape([B * H, hd, S]) as tf.Tensor3D;
    const vR = repeatKv(v, H / Hkv).reshape([B * H, S, hd]) as tf.Tensor3D;
    const scores = bmm(q.reshape([B * H, T, hd]) as tf.Tensor3D, kT).reshape([B, H, T, S]);
    const probs = tf.softmax(tf.add(scores, ctx.bias)).reshape([B * H, T, S]) as tf.Tensor3D;
    const att = bmm(probs, vR)
      .reshape([B, H, T, hd])
      .transpose([0, 2, 1, 3])
      .reshape([N, H * hd]) as tf.Tensor2D;
    x = tf.add(x, linear(weights, `${p}.attn.wo`, att, lora));
    const h2 = rmsNorm(x, w(weights, `${p}.mlp_norm.weight`), cfg.normEps);
    const gate = linear(weights, `${p}.mlp.w1`, h2, lora);
    const up = linear(weights, `${p}.mlp.w3`, h2, lora);
    x = tf.add(x, linear(weights, `${p}.mlp.w2`, swiGlu(gate, up), lora));
  }
  return { hidden: rmsNorm(x, w(weights, 'norm.weight'), cfg.normEps), kv };
}

/**
 * The q, k or v projection of normalised inputs `h` `[N, d]` → `[N, heads·hd]`, with the bias
 * (`qkvBias`) and, for q and k, the per-head RMSNorm (`qkNorm`) when the architecture has them.
 */
function project(
  cfg: TransformerConfig,
  weights: WeightMap,
  h: tf.Tensor2D,
  layer: string,
  lora: LinearDelta | undefined,
  which: 'q' | 'k' | 'v',
  heads: number,
): tf.Tensor2D {
  let out = linear(weights, `${layer}.attn.w${which}`, h, lora);
  if (cfg.qkvBias) out = tf.add(out, w(weights, `${layer}.attn.b${which}`));
  if (cfg.qkNorm && which !== 'v') {
    const hd = headDim(cfg);
    const [N] = out.shape;
    out = rmsNorm(out.reshape([N * heads, hd]), w(weights, `${layer}.attn.${which}_norm.weight`), cfg.normEps).reshape([N, heads * hd]);
  }
  return out;
}

/**
 * Token embedding `[ids.length, d]`. A trainable embedding is a one-hot product (differentiable on
 * every backend; wasm has no gradient for `gather`); a frozen one (LoRA's base, a reference
 * policy) is a row gather with the same values, which needs no `[ids.length, vocab]` one-hot
 * (37 MiB for 188 tokens of SmolLM2's 49,152-token vocabulary, held for the backward pass).
 */
export function embed(cfg: TransformerConfig, weights: WeightMap, ids: Int32Array): tf.Tensor2D {
  const table = weights.get('embed.weight');
  if (table && !table.trainable) return gatherRows(table as tf.Tensor as tf.Tensor2D, Array.from(ids));
  const oneHot = tf.oneHot(tf.tensor1d(ids, 'int32'), cfg.vocabSize).toFloat() as tf.Tensor2D;
  return mm(oneHot, w(weights, 'embed.weight'));
}

/** Output projection `[rows, d] → [rows, V]`. */
export function lmHead(cfg: TransformerConfig, weights: WeightMap, hidden: tf.Tensor2D): tf.Tensor2D {
  if (cfg.tiedEmbeddings) return mmTransposedB(hidden, w<tf.Rank.R2>(weights, 'embed.weight'));
  return mm(hidden, w<tf.Rank.R2>(weights, 'lm_head.weight'));
}

/**
 * One decoding step for `Bt` sequences with a KV cache of length L. `ids` are the new tokens,
 * `positions` their rotary positions, `bias` `[Bt, 1, 1, L+1]` masks left padding. Returns the
 * logits `[Bt, V]` and the extended cache (the caller disposes the old one). With `preallocated`
 * (only when the backend has the `GrpoDecodeAttention` kernel, see kernels.ts) `cache` holds each
 * layer's `[Bt, Hkv, cap, hd]` buffers of generated keys and values and `prompt` those of the
 * distinct prompts; the new keys and values are written into `cache` in place, `pads` masks left
 * padding instead of `bias`, and the same tensors come back.
 */
export function decodeStep(
  cfg: TransformerConfig,
  weights: WeightMap,
  tables: RopeTables,
  ids: Int32Array,
  positions: readonly number[],
  cache: LayerKv[],
  bias: tf.Tensor4D,
  lora?: LinearDelta,
  preallocated?: { prompt: LayerKv[]; pads: tf.Tensor1D; rowPrompt: tf.Tensor1D; length: number },
): { logits: tf.Tensor2D; cache: LayerKv[] } {
  const Bt = ids.length;
  const H = cfg.nHeads;
  const Hkv = cfg.nKvHeads;
  const rep = H / Hkv;
  const hd = headDim(cfg);
  const rot = hasRope() ? undefined : rotateHalfMatrix(hd);
  const rq = ropeAt(tables, positions, 1 / Math.sqrt(hd));
  const rk = ropeAt(tables, positions);
  const rope = (x: tf.Tensor2D, heads: number, t: { cos: tf.Tensor2D; sin: tf.Tensor2D }) => {
    if (!rot) return ropeKernel(x.reshape([Bt, heads, 1, hd]), t.cos.reshape([Bt, 1, 1, hd]), t.sin.reshape([Bt, 1, 1, hd])).reshape([Bt, heads, hd]);
    const x3 = x.reshape([Bt, heads, hd]);
    const rotated = mm(x.reshape([Bt * heads, hd]), rot).reshape([Bt, heads, hd]);
    return tf.add(tf.mul(x3, t.cos.reshape([Bt, 1, hd])), tf.mul(rotated, t.sin.reshape([Bt, 1, hd])));
  };
  const next: LayerKv[] = [];
  let x = embed(cfg, weights, ids);
  for (let l = 0; l < cfg.nLayers; l++) {
    const p = `layers.${l}`;
    const h = rmsNorm(x, w(weights, `${p}.attn_norm.weight`), cfg.normEps);
    const q = rope(project(cfg, weights, h, p, lora, 'q', H), H, rq);
    const kNew = rope(project(cfg, weights, h, p, lora, 'k', Hkv), Hkv, rk).reshape([Bt, Hkv, 1, hd]) as tf.Tensor4D;
    const vNew = project(cfg, weights, h, p, lora, 'v', Hkv).reshape([Bt, Hkv, 1, hd]) as tf.Tensor4D;
    const prev = cache[l] as LayerKv;
    let att: tf.Tensor2D;
    if (preallocated) {
      // The backend's fused kernel: kNew/vNew written into the preallocated cache in place.
      const { prompt, pads, rowPrompt, length } = preallocated;
      const shared = prompt[l] as LayerKv;
      att = decodeAttention(q.reshape([Bt, H, hd]), kNew.reshape([Bt, Hkv, hd]), vNew.reshape([Bt, Hkv, hd]), {
        promptK: shared.k,
        promptV: shared.v,
        genK: prev.k,
        genV: prev.v,
        pads,
        rowPrompt,
        length,
      });
      next.push(prev);
    } else {
      const k = tf.concat([prev.k, kNew], 2);
      const v = tf.concat([prev.v, vNew], 2);
      next.push({ k, v });
      const L = k.shape[2];
      // Queries grouped by kv head: [Bt·Hkv, rep, hd] against [Bt·Hkv, L, hd].
      const scores = tf.matMul(q.reshape([Bt * Hkv, rep, hd]), k.reshape([Bt * Hkv, L, hd]), false, true).reshape([Bt, Hkv, rep, L]);
      const probs = tf.softmax(tf.add(scores, bias.reshape([Bt, 1, 1, L]))).reshape([Bt * Hkv, rep, L]);
      att = tf.matMul(probs, v.reshape([Bt * Hkv, L, hd])).reshape([Bt, H * hd]) as tf.Tensor2D;
    }
    x = tf.add(x, linear(weights, `${p}.attn.wo`, att, lora));
    const h2 = rmsNorm(x, w(weights, `${p}.mlp_norm.weight`), cfg.normEps);
    const gate = linear(weights, `${p}.mlp.w1`, h2, lora);
    const up = linear(weights, `${p}.mlp.w3`, h2, lora);
    x = tf.add(x, linear(weights, `${p}.mlp.w2`, swiGlu(gate, up), lora));
  }
  const hidden = rmsNorm(x, w(weights, 'norm.weight'), cfg.normEps);
  return { logits: lmHead(cfg, weights, hidden), cache: next };
}
