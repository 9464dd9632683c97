/**
 * Pre-flight memory estimates of the transformer's passes, for the backends whose tensors live in
 * a WebAssembly heap (`wasm`, and `native`, which runs its kernels on that same heap): the heap
 * cannot grow past 4 GiB, and running out of it is a WebAssembly trap in the middle of a kernel.
 * Estimating first turns that into an error that says what fits, before anything has run.
 *
 * The estimates count float32 tensors as the passes create them (model.ts, logprobs.ts,
 * generate.ts). Under `tf.tidy` and under a gradient tape every tensor a pass creates stays alive
 * until the pass ends, so a pass needs the sum of what it creates, not a working set:
 *
 * - per layer and token, the tensors of `forwardHidden` (`layerFloats`): norms, projections,
 *   heads' transposes, rotary products, the SwiGLU products, LoRA's low-rank terms;
 * - per layer, the attention scores, their masked sum, softmax (`[B, H, T, T]` each);
 * - per token over the vocabulary (`[B·T, V]`, which dominates for large vocabularies): logits,
 *   log-softmax, the targets' one-hot and its product, with the entropy its exponent and product;
 * - a training pass keeps, besides, the gradients of those tensors until its backward pass ends;
 * - a training pass also holds the gradients (this pass's and their accumulated sum over
 *   micro-batches) and, until the optimizer has made them, AdamW's two moments, each the size of
 *   the trainable weights.
 *
 * Counted tensor by tensor and scaled to measurements (`CALIBRATION`). The figures are pure
 * functions of the config and the shapes; `heapRoom` reads the backend.
 */
import * as tf from '@tensorflow/tfjs';
import { GrpoError } from '@grpo/core';
import { headDim, type TransformerConfig } from './config.js';
import { LORA_MODULES, type LoraConfig } from './lora.js';
import { weightShapes } from './model.js';

const FLOAT = 4;
const GiB = 2 ** 30;

/** The largest heap tfjs-backend-wasm's module can grow to (its `getHeapMax()`: 4 GiB less one 64 KiB page). */
export const WASM_HEAP_LIMIT = 4294901760;

/**
 * Calibration: what the passes hold on the heap (its allocations metered, `bench/heap-meter.ts`)
 * in multiples of the tensors counted here, on small configurations each dominated by one term
 * (bench:hf's `calib-*` shapes) and on SmolLM2-135M's and Qwen2.5-0.5B's shapes (`npm run
 * bench:hf` with `BENCH_HF_PHASES=memory`; docs/lora-hf.md has the comparison). A forward pass
 * holds what `layerFloats` lists, 3 score-sized tensors per layer and 5 vocabulary-sized ones per
 * token (7 with the entropy). A training pass also holds gradients of most of them until its
 * backward pass ends: about 1.9 × the layer tensors, 5 score-sized and 4 more vocabulary-sized.
 */
export const CALIBRATION = {
  layers: { forward: 1, training: 1.9 },
  attention: { forward: 3, training: 5 },
  vocabulary: { forward: 5, entropy: 2, backward: 4 },
} as const;

/** Floats per token of one layer's forward pass, attention scores aside (see `forwardHidden`). */
export function layerFloats(cfg: TransformerConfig, lora?: LoraConfig): number {
  const d = cfg.dModel;
  const hd = headDim(cfg);
  const q = cfg.nHeads * hd;
  const kv = cfg.nKvHeads * hd;
  const f = cfg.ffnDim;
  const repeated = cfg.nHeads > cfg.nKvHeads;
  // Two RMSNorms (square, product, gain: 3d and 3 scalars each), wo and w2 products and the two residual sums.
  let n = 10 * d + 6;
  // q: product, heads' transpose, rotary (product with the rotation, two scalings, their sum).
  n += 6 * q;
  // k as q, plus its transpose for the scores; v: product and transpose.
  n += 7 * kv + 2 * kv;
  // Keys and values repeated over the query heads (grouped-query attention), then the output and its transpose.
  n += (repeated ? 2 * q : 0) + 2 * q;
  // SwiGLU: w1, sigmoid, silu, w3, gate × up.
  n += 5 * f;
  if (cfg.qkvBias) n += q + 2 * kv;
  if (cfg.qkNorm) n += 3 * (q + kv) + 3 * (cfg.nHeads + cfg.nKvHeads);
  if (lora) {
    const out: Record<string, number> = { 'attn.wq': q, 'attn.wk': kv, 'attn.wv': kv, 'attn.wo': d, 'mlp.w1': f, 'mlp.w3': f, 'mlp.w2': d };
    const inDim: Record<string, number> = { 'attn.wq': d, 'attn.wk': d, 'attn.wv': d, 'attn.wo': q, 'mlp.w1': d, 'mlp.w3': d, 'mlp.w2': f };
    for (const m of lora.targetModules) {
      const w = LORA_MODULES[m];
      // x·A [r], (x·A)·B, its scaling and the sum with the base product [out each]; dropout's mask and result [in each].
      n += lora.r + 3 * (out[w] as number) + (lora.dropout > 0 ? 2 * (inDim[w] as number) : 0);
    }
  }
  return n;
}

/** Parameters of the model (every weight of `weightShapes`). */
export function parameterCount(cfg: TransformerConfig): number {
  return weightShapes(cfg).reduce((n, [, s]) => n + s.reduce((a, b) => a * b, 1), 0);
}

/** Parameters of the adapters of `lora`: A `[in, r]` and B `[r, out]` for each adapted projection. */
export function adapterParameterCount(cfg: TransformerConfig, lora: LoraConfig): number {
  const shapes = new Map(weightShapes(cfg));
  let n = 0;
  for (let l = 0; l < cfg.nLayers; l++)
    for (const m of lora.targetModules) {
      const [i, o] = shapes.get(`layers.${l}.${LORA_MODULES[m]}`) as [number, number];
      n += lora.r * (i + o);
    }
  return n;
}

/** A pass's bytes beyond what is resident, by part. */
export interface MemoryEstimate {
  /** Every layer's tensors (`layerFloats` per token) and the embedding and final norm. */
  layers: number;
  /** Attention scores and what derives from them, `[B, H, T, T]` per layer (decoding: `[n, H, 1, L]`). */
  attention: number;
  /** Tensors over the vocabulary (`[B·T, V]`); generation: the logits. */
  vocabulary: number;
  /** Gradients (a training pass): this pass's and the accumulated sum. */
  gradients: number;
  /** AdamW's moments not yet made (a training pass). */
  optimizer: number;
  /** Key/value caches (generation). */
  cache: number;
  total: number;
}

const total = (e: Omit<MemoryEstimate, 'total'>): MemoryEstimate => ({
  ...e,
  total: e.layers + e.attention + e.vocabulary + e.gradients + e.optimizer + e.cache,
});

export interface PassOptions {
  /** Parameters that train: under a gradient tape, their gradients are taken (a training pass); 0 for π_old's and π_ref's log-probs. */
  trainableParams: number;
  /** Whether the per-token entropy is taken too (the update takes it). */
  entropy?: boolean;
  /** The adapters the pass applies (a LoRA policy, or a reference with its adapters on). */
  lora?: LoraConfig;
  /** Whether the token embedding trains (a one-hot product instead of a row gather, model.ts `embed`). */
  trainableEmbedding?: boolean;
  /** Whether the optimizer's moments exist already (they are then part of what is resident). */
  optimizerResident?: boolean;
  /** The `wasm` backend's tied output head: a transposed copy of the embedding and XNNPACK's packing of it (kernels.ts `mmTransposedB`). */
  transposedHead?: boolean;
}

/**
 * The bytes a `tokenLogProbs` pass over `sequences` rows of `length` input tokens (the longest
 * prompt + completion, less one) creates, beyond what is resident when it starts.
 */
export function passBytes(cfg: TransformerConfig, sequences: number, length: number, options: PassOptions): MemoryEstimate {
  const N = sequences * length;
  const V = cfg.vocabSize;
  const lora = options.lora;
  const training = options.trainableParams > 0;
  // A trainable embedding is a one-hot product ([N, V] int32 and float32), a frozen one a row gather.
  const embedding = options.trainableEmbedding ? 2 * V + cfg.dModel : cfg.dModel;
  const { layers: k, attention: a, vocabulary: v } = CALIBRATION;
  const layers = N * ((cfg.nLayers * layerFloats(cfg, lora) + 3 * cfg.dModel + 3) * (training ? k.training : k.forward) + embedding) * FLOAT;
  const attention = cfg.nLayers * (training ? a.training : a.forward) * sequences * cfg.nHeads * length * length * FLOAT;
  const perToken = v.forward + (options.entropy ? v.entropy : 0) + (training ? v.backward : 0);
  const vocabulary = (N * V * perToken + (options.transposedHead ? 2 * V * cfg.dModel : 0)) * FLOAT;
  const trainable = options.trainableParams * FLOAT;
  return total({
    layers,
    attention,
    vocabulary,
    gradients: 2 * trainable,
    optimizer: options.optimizerResident ? 0 : 2 * trainable,
    cache: 0,
  });
}

export interface GenerationShape {
  /** Distinct prompts (prefilled once). */
  prompts: number;
  groupSize: number;
  /** The longest prompt, in tokens. */
  promptLength: number;
  maxNewTokens: number;
  /** The backend's decoding-attention kernel (kernels.ts): preallocated caches, prompts stored once. */
  preallocated: boolean;
  lora?: LoraConfig;
  /** See `PassOptions.transposedHead`: every step's head transposes the embedding. */
  transposedHead?: boolean;
}

/**
 * The bytes `generateFromIds` needs beyond what is resident: the larger of the prefill (a forward
 * pass over the prompts, their last logits tiled G times, the caches made) and a decoding step at
 * full length (the caches, one token's tensors per sequence, two steps' logits).
 */
export function generationBytes(cfg: TransformerConfig, shape: GenerationShape): MemoryEstimate {
  const { prompts: P, groupSize: G, promptLength: T, maxNewTokens: M } = shape;
  const n = P * G;
  const V = cfg.vocabSize;
  const kv = cfg.nKvHeads * headDim(cfg);
  const L = cfg.nLayers;
  const head = shape.transposedHead ? 2 * V * cfg.dModel : 0;
  const perLayer = layerFloats(cfg, shape.lora);
  // Keys and values of every layer for `rows` sequences of `len` positions.
  const caches = (rows: number, len: number) => 2 * L * rows * kv * len * FLOAT;
  const made = shape.preallocated ? caches(n, M) : caches(n, T);
  const { layers: k, attention: a } = CALIBRATION;
  const prefill = total({
    layers: P * T * (L * perLayer + 4 * cfg.dModel + 3) * FLOAT * k.forward,
    attention: L * a.forward * P * cfg.nHeads * T * T * FLOAT,
    vocabulary: ((P + n) * V + head) * FLOAT,
    gradients: 0,
    optimizer: 0,
    cache: made,
  });
  // Full length: the preallocated buffers and the prompts' caches, or the concatenated caches (old and new while a step runs).
  const cache = shape.preallocated ? caches(n, M) + caches(P, T) : 2 * caches(n, T + M);
  const decode = total({
    layers: n * (L * perLayer + 4 * cfg.dModel + 3) * FLOAT * k.forward,
    attention: L * a.forward * n * cfg.nHeads * (T + M) * FLOAT,
    vocabulary: (2 * n * V + head) * FLOAT,
    gradients: 0,
    optimizer: 0,
    cache,
  });
  return prefill.total >= decode.total ? prefill : decode;
}

/** The backends whose tensors live in tfjs-backend-wasm's heap. */
const HEAP_BACKENDS = new Set(['wasm', 'native']);

/** Where the heap stands: its limit, the bytes in use and its current size; undefined off the wasm-heap backends. */
export interface HeapRoom {
  backend: string;
  limit: number;
  /** Tensor bytes (`tf.memory().numBytes`) and, on `wasm`, XNNPACK's packed weights. */
  inUse: number;
  heapSize?: number;
}

/**
 * The heap of the active backend. On `wasm`, XNNPACK keeps a packed copy of every weight matrix
 * it has multiplied by for as long as the weight lives (outside the tensors tfjs counts):
 * `packedBytes`, the bytes of those matrices, is counted as in use there.
 */
export function heapRoom(packedBytes = 0): HeapRoom | undefined {
  const backend = tf.getBackend();
  if (!HEAP_BACKENDS.has(backend)) return undefined;
  const heap = (tf.backend() as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.buffer.byteLength;
  const inUse = tf.memory().numBytes + (backend === 'wasm' ? packedBytes : 0);
  return { backend, limit: WASM_HEAP_LIMIT, inUse, ...(heap !== undefined ? { heapSize: heap } : {}) };
}

/** The bytes of the matrices the layers multiply by (and an untied output head): what XNNPACK packs on `wasm`. */
export function projectionBytes(cfg: TransformerConfig): number {
  return weightShapes(cfg)
    .filter(([name, shape]) => shape.length === 2 && name !== 'embed.weight')
    .reduce((n, [, [a, b]]) => n + (a as number) * (b as number) * FLOAT, 0);
}

export const gib = (bytes: number) => `${(bytes / GiB).toFixed(1)} GiB`;

/**
 * Throws a `GrpoError` before a pass whose estimate does not fit beside what is in use: what was
 * estimated, the limit, and `fix(n, fits)`'s advice for the largest `n` below `size` whose
 * estimate (`estimate(n)`, `fits` as "~2.1 GiB") fits, or `fix(undefined, '')` when none does.
 */
export function checkFits(
  room: HeapRoom | undefined,
  what: string,
  size: number,
  estimate: (n: number) => number,
  fix: (n: number | undefined, fits: string) => string,
): void {
  if (!room) return;
  const free = room.limit - room.inUse;
  const need = estimate(size);
  if (need <= free) return;
  let best: number | undefined;
  for (let k = size - 1; k >= 1 && best === undefined; k--) if (estimate(k) <= free) best = k;
  throw new GrpoError(
    `${what} needs ~${gib(need)}, over the 4 GiB WebAssembly heap of the '${room.backend}' backend (${gib(room.inUse)} in use): ` +
      fix(best, best === undefined ? '' : `~${gib(estimate(best))}`),
  );
}

/** "a 494 M-parameter transformer (24 layers, d 896, vocabulary 151,936)", for errors. */
export function describeModel(cfg: TransformerConfig): string {
  const n = parameterCount(cfg);
  return `a ${n >= 1e6 ? `${Math.round(n / 1e6)} M` : `${Math.round(n / 1e3)} k`}-parameter transformer (${cfg.nLayers} layers, d ${cfg.dModel}, vocabulary ${cfg.vocabSize.toLocaleString('en-US')})`;
}
