/**
 * Batched sampling with a KV cache.
 *
 * - Prompts are encoded as BOS + `tokenizer.encode(prompt)` (see `encodePrompt`), or with the
 *   policy's prefix (a Hugging Face tokenizer's own); `generateFromIds` takes token ids.
 * - The P distinct prompts are prefilled once, left-padded to the longest (pad keys masked,
 *   rotary positions counted from each prompt's first real token), and their keys/values and
 *   last-position logits are tiled G times: all G completions of a prompt share its prefill.
 * - Each decoding step runs the Bt still-active sequences together; a sequence stops on EOS (any
 *   of `eosIds`; kept as its last token, finishReason 'eos'), on a stop string (the text ends with the stop
 *   string, finishReason 'stop'), or after `maxNewTokens` tokens or at the model's `maxSeqLen`
 *   ('length'). Finished sequences are dropped from the batch (their cache rows gathered away).
 * - Every completion samples from its own RNG stream derived from `options.seed`, so results
 *   do not depend on which other sequences are in the batch.
 */
import * as tf from '@tensorflow/tfjs';
import { DataError, Rng, type Completion, type FinishReason, type IdCompletion, type SamplingOptions, type Tokenizer } from '@grpo/core';
import type { TransformerConfig } from './config.js';
import { decodeStep, forwardHidden, leftPaddedContext, lmHead, type LayerKv, type LinearDelta, type RopeTables, type WeightMap } from './model.js';
import { sampleToken, type SamplerOptions } from './sampling.js';
import { gatherRows, hasDecodeAttention } from './kernels.js';

export interface ModelState {
  cfg: TransformerConfig;
  weights: WeightMap;
  tables: RopeTables;
  /** Low-rank adapters added to the projections (a LoRA policy), as used for sampling: no dropout. */
  lora?: LinearDelta;
}

/**
 * `prefix` (default `[tokenizer.bosId]`) + the encoded prompt, unless the encoded prompt already
 * starts with `prefix` (a rendered chat template that writes the BOS itself).
 */
export function encodePrompt(tokenizer: Tokenizer, prompt: string, prefix: readonly number[] = [tokenizer.bosId]): number[] {
  const ids = tokenizer.encode(prompt);
  const hasPrefix = prefix.length > 0 && prefix.length <= ids.length && prefix.every((id, i) => ids[i] === id);
  return hasPrefix ? ids : [...prefix, ...ids];
}

interface SeqState extends Decoding {
  prompt: number;
  promptLen: number;
  /** Left padding of its prompt in the prefill batch. */
  pad: number;
}

/** What a decoding step needs of a sequence: its sampled tokens so far and why it finished. */
export interface Decoding {
  limit: number;
  rng: Rng;
  tokens: number[];
  logprobs: number[];
  text: string;
  finish?: FinishReason;
}

/** How a decoding step samples and when a sequence ends. */
export interface DecodingRules {
  sampler: SamplerOptions;
  eos: ReadonlySet<number>;
  /** Stop strings (matched on the decoded text when `decode` is given). */
  stops: readonly string[];
  decode?: (ids: readonly number[]) => string;
}

/**
 * Samples one token for `s` from its row of logits and records it; sets `s.finish` at an EOS
 * token, a stop string (the text cut after the earliest) or the length limit.
 */
export function decodeToken(s: Decoding, logits: ArrayLike<number>, rules: DecodingRules): void {
  const { token, logprob } = sampleToken(logits, rules.sampler, s.rng);
  s.tokens.push(token);
  s.logprobs.push(logprob);
  if (rules.eos.has(token)) {
    s.finish = 'eos';
    return;
  }
  let cut = -1;
  if (rules.decode && rules.stops.length) {
    s.text = rules.decode(s.tokens);
    for (const stop of rules.stops) {
      const found = s.text.indexOf(stop);
      if (found >= 0 && (cut < 0 || found + stop.length < cut)) cut = found + stop.length;
    }
  }
  if (cut >= 0) {
    s.text = s.text.slice(0, cut);
    s.finish = 'stop';
  } else if (s.tokens.length >= s.limit) s.finish = 'length';
}

/** Left-padded logits of the last position for `rows` of token ids (full recompute, no cache). */
function fullLastLogits(
  model: ModelState,
  rows: readonly (readonly number[])[],
  padId: number,
): { logits: tf.Tensor2D; kv: LayerKv[]; pads: number[]; T: number } {
  const T = Math.max(...rows.map((r) => r.length));
  const pads = rows.map((r) => T - r.length);
  const ids = new Int32Array(rows.length * T).fill(padId);
  rows.forEach((r, b) => ids.set(r, b * T + (pads[b] as number)));
  const ctx = leftPaddedContext(model.cfg, model.tables, T, pads);
  const { hidden, kv } = forwardHidden(model.cfg, model.weights, ids, ctx, true, model.lora);
  const last = tf.gather(
    hidden,
    tf.tensor1d(
      rows.map((_, b) => b * T + T - 1),
      'int32',
    ),
  ) as tf.Tensor2D;
  return { logits: lmHead(model.cfg, model.weights, last), kv, pads, T };
}

export interface GenerateOptions {
  /** Decode with the KV cache (default), or recompute the whole prefix at every step. */
  useCache?: boolean;
  /** Tokens that end a completion (finish reason 'eos'); default: the tokenizer's EOS. */
  eosIds?: readonly number[];
}

/**
 * A completion's text: the tokenizer's decoding without special tokens. Ids beyond the tokenizer's
 * vocabulary (Hugging Face models pad their embedding, e.g. Qwen2.5's 151,936 rows for 151,665
 * tokens) have no text and are left out, as `transformers` does.
 */
export function decoder(tokenizer: Tokenizer): (ids: readonly number[]) => string {
  return (ids) => tokenizer.decode(ids.some((id) => id >= tokenizer.vocabSize) ? ids.filter((id) => id < tokenizer.vocabSize) : ids, { skipSpecial: true });
}

/** Samples `groupSize` completions of each text prompt, encoded with `encode` (default: `encodePrompt`). */
export async function generate(
  model: ModelState,
  tokenizer: Tokenizer,
  prompts: readonly string[],
  groupSize: number,
  options: SamplingOptions,
  { encode = (p: string) => encodePrompt(tokenizer, p), ...rest }: GenerateOptions & { encode?: (prompt: string) => number[] } = {},
): Promise<Completion[][]> {
  const decode = decoder(tokenizer);
  return (await generateFromIds(model, prompts.map(encode), groupSize, options, {
    ...rest,
    eosIds: rest.eosIds ?? [tokenizer.eosId],
    padId: tokenizer.padId,
    decode,
  })) as Completion[][];
}

/** Checks the sampling options and the prompts' ids; returns the non-empty stop strings. */
export function checkSampling(cfg: TransformerConfig, promptIds: readonly (readonly number[])[], options: SamplingOptions, canDecode: boolean): string[] {
  const { maxNewTokens, temperature, topK, topP } = options;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new DataError(`maxNewTokens must be an integer ≥ 1, got ${maxNewTokens}`);
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new DataError(`temperature must be a finite number ≥ 0, got ${temperature}`);
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 0)) throw new DataError(`topK must be an integer ≥ 0 (0 = off), got ${topK}`);
  if (topP !== undefined && !(topP > 0 && topP <= 1)) throw new DataError(`topP must be in (0, 1], got ${topP}`);
  const stops = (options.stop ?? []).filter((s) => s.length > 0);
  if (stops.length && !canDecode) throw new DataError('stop strings need a tokenizer to decode completions; this policy has none');
  promptIds.forEach((ids, i) => {
    if (ids.length === 0) throw new DataError(`prompt ${i} is empty`);
    const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= cfg.vocabSize);
    if (bad !== undefined) throw new DataError(`prompt ${i}: token id ${bad} is outside the vocabulary [0, ${cfg.vocabSize})`);
    if (ids.length >= cfg.maxSeqLen)
      throw new DataError(`prompt ${i} has ${ids.length} tokens; the model's maxSeqLen (${cfg.maxSeqLen}) leaves no room to generate`);
  });
  return stops;
}

/**
 * Samples `groupSize` completions of each prompt given as token ids (used as they are). Without
 * `decode` the completions' `text` is null and stop strings cannot be used.
 */
export async function generateFromIds(
  model: ModelState,
  promptIds: readonly (readonly number[])[],
  groupSize: number,
  options: SamplingOptions,
  { useCache = true, eosIds, padId, decode }: GenerateOptions & { eosIds: readonly number[]; padId: number; decode?: (ids: readonly number[]) => string },
): Promise<IdCompletion[][]> {
  const { cfg } = model;
  if (!Number.isInteger(groupSize) || groupSize < 1) throw new DataError(`groupSize must be an integer ≥ 1, got ${groupSize}`);
  const stops = checkSampling(cfg, promptIds, options, decode !== undefined);
  if (promptIds.length === 0) return [];
  const eos = new Set(eosIds);
  const Pmax = Math.max(...promptIds.map((p) => p.length));
  const seedRng = new Rng(options.seed ?? 0);
  const seqs: SeqState[] = [];
  promptIds.forEach((ids, p) => {
    for (let g = 0; g < groupSize; g++)
      seqs.push({
        prompt: p,
        promptLen: ids.length,
        pad: Pmax - ids.length,
        limit: Math.min(options.maxNewTokens, cfg.maxSeqLen - ids.length),
        rng: new Rng(seedRng.seed()),
        tokens: [],
        logprobs: [],
        text: '',
      });
  });
  const rules: DecodingRules = { sampler: { temperature: options.temperature, topK: options.topK, topP: options.topP }, eos, stops, decode };

  // With the backend's decoding-attention kernel (see kernels.ts), each prompt's keys and values
  // stay stored once for all its samples, and those of the generated tokens go into buffers
  // preallocated for every step ([n, Hkv, maxNewTokens, hd]), written in place.
  const preallocate = useCache && hasDecodeAttention();
  let promptKv: LayerKv[] = [];
  // Prefill the distinct prompts once, then tile keys/values and logits G times.
  let logits: tf.Tensor2D;
  let cache: LayerKv[] = [];
  {
    const tile = seqs.map((s) => s.prompt);
    const out = tf.tidy(() => {
      const r = fullLastLogits(model, promptIds, padId);
      const buffers = () =>
        r.kv.map((l) => ({
          k: tf.zeros([tile.length, l.k.shape[1], options.maxNewTokens, l.k.shape[3]]),
          v: tf.zeros([tile.length, l.v.shape[1], options.maxNewTokens, l.v.shape[3]]),
        }));
      return {
        logits: gatherRows(r.logits, tile),
        prompt: preallocate ? r.kv : [],
        kv: !useCache ? [] : preallocate ? buffers() : r.kv.map((l) => ({ k: gatherRows(l.k, tile), v: gatherRows(l.v, tile) })),
      };
    });
    promptKv = out.prompt as LayerKv[];
    logits = out.logits as tf.Tensor2D;
    cache = out.kv as LayerKv[];
  }
  /**
   * `rows[r]`: sequence index of active sequence r; `slot[r]`: its row in the cache and in
   * `logits`. Finished sequences keep their cache row (fed PAD, output ignored) until a quarter
   * of the cache is dead; then the cache is compacted to the active rows.
   */
  let rows = seqs.map((_, i) => i);
  let slot = rows.slice();
  /** Sequence of each cache row (-1: finished). */
  let slotSeq = rows.slice();
  const V = cfg.vocabSize;
  try {
    for (let step = 0; ; step++) {
      const values = (await logits.data()) as Float32Array;
      const keep: number[] = [];
      rows.forEach((si, r) => {
        const s = seqs[si] as SeqState;
        const at = slot[r] as number;
        decodeToken(s, values.subarray(at * V, (at + 1) * V), rules);
        if (!s.finish) keep.push(r);
        else slotSeq[at] = -1;
      });
      if (keep.length === 0) break;
      const prevLogits = logits;
      const prevCache = cache;
      rows = keep.map((r) => rows[r] as number);
      slot = keep.map((r) => slot[r] as number);
      const compact = !useCache || rows.length <= 0.75 * slotSeq.length;
      const take = slot;
      if (compact) {
        slot = rows.map((_, i) => i);
        slotSeq = rows.slice();
      }
      const L = Pmax + step; // cache length before this step's token
      const next = tf.tidy(() => {
        if (!useCache) {
          const full = rows.map((si) => {
            const s = seqs[si] as SeqState;
            return [...(promptIds[s.prompt] as readonly number[]), ...s.tokens];
          });
          return { logits: fullLastLogits(model, full, padId).logits, kv: [] as LayerKv[] };
        }
        const kv = compact ? prevCache.map((l) => ({ k: gatherRows(l.k, take), v: gatherRows(l.v, take) })) : prevCache;
        const n = slotSeq.length;
        const ids = new Int32Array(n).fill(padId);
        const positions = new Array<number>(n).fill(0);
        const bias = new Float32Array(n * (L + 1));
        slotSeq.forEach((si, r) => {
          const s = seqs[si < 0 ? 0 : si] as SeqState;
          if (si >= 0) {
            ids[r] = s.tokens[s.tokens.length - 1] as number;
            positions[r] = Math.min(cfg.maxSeqLen - 1, s.promptLen + step);
          }
          bias.fill(-1e9, r * (L + 1), r * (L + 1) + (si >= 0 ? s.pad : 0));
        });
        const shared = preallocate
          ? {
              prompt: promptKv,
              pads: tf.tensor1d(
                slotSeq.map((si) => (si >= 0 ? (seqs[si] as SeqState).pad : 0)),
                'int32',
              ),
              rowPrompt: tf.tensor1d(
                slotSeq.map((si) => (si >= 0 ? (seqs[si] as SeqState).prompt : 0)),
                'int32',
              ),
              length: L,
            }
          : undefined;
        const out = decodeStep(cfg, model.weights, model.tables, ids, positions, kv, tf.tensor4d(bias, [n, 1, 1, L + 1]), model.lora, shared);
        return { logits: out.logits, kv: out.cache };
      });
      logits = next.logits as tf.Tensor2D;
      cache = next.kv as LayerKv[];
      prevLogits.dispose();
      // A preallocated cache comes back as the same tensors unless it was compacted.
      for (const l of prevCache) if (!cache.includes(l)) tf.dispose([l.k, l.v]);
    }
  } finally {
    logits.dispose();
    for (const l of [...cache, ...promptKv]) tf.dispose([l.k, l.v]);
  }

  const out: IdCompletion[][] = promptIds.map(() => []);
  for (const s of seqs) {
    (out[s.prompt] as IdCompletion[]).push({
      tokenIds: s.tokens,
      text: s.finish === 'stop' ? s.text : decode ? decode(s.tokens) : null,
      logprobs: s.logprobs,
      finishReason: s.finish ?? 'length',
    });
  }
  return out;
}
