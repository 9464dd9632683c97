/**
 * Loss aggregations: per-token loss `[B, L]` and mask → this micro-batch's share of the
 * optimizer step's scalar loss. Every normaliser comes from the `AggregationContext` (counts
 * over the whole step), never from the micro-batch, so the micro-batch losses of one step sum to
 * exactly the loss of the full batch, and so do their gradients (the gradient-accumulation trap).
 */
import * as tf from '@tensorflow/tfjs';
import type { AggregationContext, LossAggregation } from '@grpo/core';

const atLeastOne = (n: number): number => Math.max(1, n);

/** Σ_t ℓ·m per sequence, `[B]`. */
function rowSums(perToken: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor1D {
  return tf.sum(tf.mul(perToken, mask), 1);
}

/**
 * `seq-mean-token-mean` (DeepSeekMath's 1/G Σ_i 1/|o_i| Σ_t): each sequence's mean over its own
 * tokens, summed, divided by the step's number of sequences.
 */
export const seqMeanTokenMean: LossAggregation = {
  name: 'seq-mean-token-mean',
  aggregate: (perToken, mask, context: AggregationContext) =>
    tf.tidy(() => {
      const perSeq = tf.div(rowSums(perToken, mask), tf.maximum(tf.sum(mask, 1), 1));
      return tf.div(tf.sum(perSeq), atLeastOne(context.totalSequences)) as tf.Scalar;
    }),
};

/** `token-mean` (DAPO; verl and TRL default): Σ ℓ·m / the step's number of valid tokens. */
export const tokenMean: LossAggregation = {
  name: 'token-mean',
  aggregate: (perToken, mask, context) => tf.tidy(() => tf.div(tf.sum(tf.mul(perToken, mask)), atLeastOne(context.totalTokens)) as tf.Scalar),
};

/** `seq-mean-token-sum`: Σ ℓ·m / the step's number of sequences. */
export const seqMeanTokenSum: LossAggregation = {
  name: 'seq-mean-token-sum',
  aggregate: (perToken, mask, context) => tf.tidy(() => tf.div(tf.sum(tf.mul(perToken, mask)), atLeastOne(context.totalSequences)) as tf.Scalar),
};

/** `constant` (Dr. GRPO's constant normaliser): Σ ℓ·m / (sequences of the step · maxLength). */
export const constantNormalizer: LossAggregation = {
  name: 'constant',
  aggregate: (perToken, mask, context) =>
    tf.tidy(() => tf.div(tf.sum(tf.mul(perToken, mask)), atLeastOne(context.totalSequences) * atLeastOne(context.maxLength)) as tf.Scalar),
};

/** Every aggregation this plugin contributes. */
export const lossAggregations: readonly LossAggregation[] = [seqMeanTokenMean, tokenMean, seqMeanTokenSum, constantNormalizer];

/** The counts of a full batch given its mask, for callers that do not accumulate gradients. */
export function contextOf(mask: tf.Tensor2D, maxLength: number = mask.shape[1]): AggregationContext {
  const rows = mask.arraySync();
  let totalTokens = 0;
  for (const row of rows) for (const m of row) totalTokens += m;
  return { totalTokens, totalSequences: rows.length, maxLength };
}
