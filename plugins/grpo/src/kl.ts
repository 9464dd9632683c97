/**
 * Per-token KL(π_θ ‖ π_ref) estimators on log-prob tensors `[B, L]` (Schulman's k1/k2/k3).
 * δ = ref − logp.
 */
import * as tf from '@tensorflow/tfjs';
import type { KlEstimator } from '@grpo/core';

/** `k1`: logp − ref (unbiased, can be negative). */
export const k1: KlEstimator = {
  name: 'k1',
  estimate: (logprobs, refLogprobs) => tf.tidy(() => tf.sub(logprobs, refLogprobs) as tf.Tensor2D),
};

/** `abs`: |logp − ref|. */
export const absKl: KlEstimator = {
  name: 'abs',
  estimate: (logprobs, refLogprobs) => tf.tidy(() => tf.abs(tf.sub(logprobs, refLogprobs)) as tf.Tensor2D),
};

/** `k2`: ½(logp − ref)². */
export const k2: KlEstimator = {
  name: 'k2',
  estimate: (logprobs, refLogprobs) => tf.tidy(() => tf.mul(tf.square(tf.sub(logprobs, refLogprobs)), 0.5) as tf.Tensor2D),
};

/**
 * `k3` (DeepSeekMath Eq. 4, the GRPO default): exp(δ) − δ − 1, non-negative and unbiased.
 * As in verl's `low_var_kl`, δ is clamped to [−20, 20] and the result to [−10, 10].
 */
export const k3: KlEstimator = {
  name: 'k3',
  estimate: (logprobs, refLogprobs) =>
    tf.tidy(() => {
      const delta = tf.clipByValue(tf.sub(refLogprobs, logprobs), -20, 20);
      return tf.clipByValue(tf.sub(tf.sub(tf.exp(delta), delta), 1), -10, 10) as tf.Tensor2D;
    }),
};

/** Every KL estimator this plugin contributes. */
export const klEstimators: readonly KlEstimator[] = [k1, absKl, k2, k3];
