/**
 * The reward model's losses as pure functions of tensors (each inside `tf.tidy`, differentiable).
 * Each returns the SUM of its terms; the batch loss (`batchLoss` in training.ts) adds them up and
 * divides by the number of examples. Notation: z a logit, σ the logistic function,
 * softplus(x) = log(1 + eˣ), so −log σ(z) = softplus(−z) and −log(1 − σ(z)) = softplus(z).
 */
import * as tf from '@tensorflow/tfjs';

/**
 * The entries of `flat` ([N, 1]) at `indices`, as a [K] tensor: a one-hot [K, N] matrix times
 * `flat` (gather has no gradient kernel on wasm).
 */
export function selectEntries(flat: tf.Tensor2D, indices: readonly number[]): tf.Tensor1D {
  return tf.tidy(() => {
    const n = flat.shape[0];
    const onehot = new Float32Array(indices.length * n);
    indices.forEach((at, k) => (onehot[k * n + at] = 1));
    return tf.matMul(tf.tensor2d(onehot, [indices.length, n]), flat).reshape([indices.length]);
  });
}

/**
 * Weighted binary cross-entropy on logits — the outcome loss (one term per completion, z read at its
 * last token, w = 1) and the process loss (one term per step, z read at the step's last token,
 * w = 1/K for a completion of K steps):
 *
 *   L = Σ_i w_i · [y_i · softplus(−z_i) + (1 − y_i) · softplus(z_i)],   labels y_i ∈ [0, 1].
 */
export function bceLoss(logits: tf.Tensor1D, labels: tf.Tensor1D, weights: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const terms = tf.add(tf.mul(labels, tf.softplus(tf.neg(logits))), tf.mul(tf.sub(1, labels), tf.softplus(logits)));
    return tf.sum(tf.mul(weights, terms)) as tf.Scalar;
  });
}

/**
 * Noisy-and log-probabilities: log P_k = Σ_n m_kn · log σ(z_n) = −Σ_n m_kn · softplus(−z_n), the log
 * of Π σ(z_t) over the tokens that the 0/1 row m_k of `mask` selects (a completion's tokens, or
 * those up to a step's end). `flat`: [N, 1] token logits; `mask`: [K, N]; returns [K].
 */
export function noisyAndLogProb(flat: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.matMul(mask, tf.neg(tf.softplus(tf.neg(flat)))).reshape([mask.shape[0]]));
}

/**
 * Weighted binary cross-entropy on noisy-and probabilities P_k = exp(log P_k), with 1 − P kept
 * away from 0:
 *
 *   L = Σ_k w_k · [−y_k · log P_k − (1 − y_k) · log max(1 − P_k, 10⁻⁶)].
 */
export function noisyAndLoss(logProbs: tf.Tensor1D, labels: tf.Tensor1D, weights: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const logNotP = tf.log(tf.maximum(tf.sub(1, tf.exp(logProbs)), 1e-6));
    return tf.sum(tf.mul(weights, tf.neg(tf.add(tf.mul(labels, logProbs), tf.mul(tf.sub(1, labels), logNotP))))) as tf.Scalar;
  });
}

/**
 * Bradley–Terry preference loss over pairs of scores (logits):
 *
 *   L = Σ_i −log σ(r_chosen,i − r_rejected,i) = Σ_i softplus(−(r_chosen,i − r_rejected,i)).
 */
export function preferenceLoss(chosen: tf.Tensor1D, rejected: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.softplus(tf.neg(tf.sub(chosen, rejected)))) as tf.Scalar);
}
