import * as tf from '@tensorflow/tfjs';
import type { TokenBatch } from '../records.js';

/** One completion prepared for the update: everything per token, unpadded. */
export interface TrainSequence {
  promptIds: number[];
  completionIds: number[];
  advantages: number[];
  /** 1 where the token counts in the loss; 0 for masked (e.g. truncated) completions. */
  mask: number[];
  /** log π_old per token, when computed by a forward pass (μ > 1 or several mini-batches). */
  oldLogprobs?: number[];
  /** log π_ref per token, when β > 0. */
  refLogprobs?: number[];
  /** Per-token values and returns, for PPO. */
  values?: number[];
  returns?: number[];
}

/** Rows padded with `fill` to the longest row (or `width`), as a `[B, L]` tensor. */
export function padded(rows: readonly (readonly number[])[], width?: number, fill = 0): tf.Tensor2D {
  const L = width ?? Math.max(1, ...rows.map((r) => r.length));
  const data = new Float32Array(rows.length * L).fill(fill);
  rows.forEach((r, i) => data.set(r.slice(0, L), i * L));
  return tf.tensor2d(data, [rows.length, L]);
}

export function tokenBatch(sequences: readonly TrainSequence[]): TokenBatch {
  return { prompts: sequences.map((s) => s.promptIds), completions: sequences.map((s) => s.completionIds) };
}

/** Splits `items` into consecutive chunks of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Per-token log-probs of each sequence under `model`, without gradients, as plain arrays (unpadded). */
export function logprobsOf(
  model: { tokenLogProbs(batch: TokenBatch): { logprobs: tf.Tensor2D; entropy?: tf.Tensor2D } },
  sequences: readonly TrainSequence[],
  batchSize: number,
): number[][] {
  const out: number[][] = [];
  for (const chunk of chunks(sequences, batchSize)) {
    const rows = tf.tidy(() => model.tokenLogProbs(tokenBatch(chunk)).logprobs.arraySync());
    chunk.forEach((s, i) => out.push(rows[i]!.slice(0, s.completionIds.length)));
  }
  return out;
}
