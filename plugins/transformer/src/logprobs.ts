/**
 * Differentiable per-token log-probs of completion tokens given their prompts.
 *
 * Each row is `prompt ++ completion`, right-padded to the batch's longest row (causal attention
 * means no real token sees the padding, so no mask is needed). The model reads tokens
 * `0..T-2` and scores tokens `1..T-1`; a selection matrix (a batched product, which keeps the
 * gradient on fast kernels and avoids `gather`) moves each row's completion scores to columns
 * `0..Lmax-1`, zero beyond the completion.
 */
import * as tf from '@tensorflow/tfjs';
import { DataError, type TokenBatch, type TokenLogProbs } from '@grpo/core';
import type { ModelState } from './generate.js';
import { forwardHidden, lmHead, seqContext, type LinearDelta } from './model.js';
import { bmm } from './kernels.js';

export interface PackedBatch {
  B: number;
  /** Input length (longest row minus one). */
  T: number;
  Lmax: number;
  inputs: Int32Array;
  targets: Int32Array;
  /** `[B, T, Lmax]` selection: 1 at (promptLen−1+j, j) for each completion token j. */
  select: Float32Array;
}

export function packBatch(batch: TokenBatch, maxSeqLen: number, padId: number): PackedBatch {
  const B = batch.prompts.length;
  if (batch.completions.length !== B) throw new DataError(`TokenBatch has ${B} prompts but ${batch.completions.length} completions`);
  const rows = batch.prompts.map((p, b) => {
    const c = batch.completions[b] as readonly number[];
    if (p.length === 0) throw new DataError(`row ${b}: empty prompt (encode prompts with a BOS token)`);
    if (p.length + c.length > maxSeqLen)
      throw new DataError(`row ${b}: prompt + completion is ${p.length + c.length} tokens, more than the model's maxSeqLen ${maxSeqLen}`);
    return [...p, ...c];
  });
  const T = Math.max(1, ...rows.map((r) => r.length - 1));
  const Lmax = Math.max(1, ...batch.completions.map((c) => c.length));
  const inputs = new Int32Array(B * T).fill(padId);
  const targets = new Int32Array(B * T).fill(padId);
  const select = new Float32Array(B * T * Lmax);
  rows.forEach((r, b) => {
    for (let t = 0; t + 1 < r.length; t++) {
      inputs[b * T + t] = r[t] as number;
      targets[b * T + t] = r[t + 1] as number;
    }
    const p = (batch.prompts[b] as readonly number[]).length;
    const c = (batch.completions[b] as readonly number[]).length;
    for (let j = 0; j < c; j++) select[(b * T + p - 1 + j) * Lmax + j] = 1;
  });
  return { B, T, Lmax, inputs, targets, select };
}

/**
 * `[B, Lmax]` log-probs (and entropies) of the completion tokens; call inside `tf.tidy`. `lora`
 * (default `model.lora`) is given for a training pass whose adapters apply dropout; it receives the
 * packed input ids so that its dropout masks can be a function of them.
 */
export function tokenLogProbs(
  model: ModelState,
  batch: TokenBatch,
  padId: number,
  options: { entropy?: boolean } = {},
  lora?: (inputs: Int32Array) => LinearDelta,
): TokenLogProbs {
  const { cfg } = model;
  const pk = packBatch(batch, cfg.maxSeqLen, padId);
  const { B, T, Lmax } = pk;
  const ctx = seqContext(cfg, model.tables, B, T);
  const { hidden } = forwardHidden(cfg, model.weights, pk.inputs, ctx, false, lora ? lora(pk.inputs) : model.lora);
  const logp = tf.logSoftmax(lmHead(cfg, model.weights, hidden)); // [B·T, V]
  const target = tf.oneHot(tf.tensor1d(pk.targets, 'int32'), cfg.vocabSize).toFloat();
  const select = tf.tensor3d(pk.select, [B, T, Lmax]);
  const toCompletion = (perPos: tf.Tensor) => bmm(perPos.reshape([B, 1, T]) as tf.Tensor3D, select).reshape([B, Lmax]) as tf.Tensor2D;
  const logprobs = toCompletion(tf.sum(tf.mul(logp, target), -1));
  if (!options.entropy) return { logprobs };
  const entropy = toCompletion(tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), -1)));
  return { logprobs, entropy };
}
