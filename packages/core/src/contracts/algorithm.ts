import type * as tf from '@tensorflow/tfjs';
import type { AdvantageBatch, ScoredGroup } from '../records.js';

/** How the group statistics are taken; the defaults match TRL (unbiased std, eps 1e-4 on the std). */
export interface AdvantageOptions {
  std: 'unbiased' | 'biased';
  /** Added to the std, not the variance. */
  eps: number;
  /** A group whose rewards are all equal gets advantage 0 (never NaN). */
  zeroVarianceToZero: boolean;
  /** Group of one: `zero` gives A = 0; `raw` follows verl (mean 0, std 1, so A = r). */
  singleton: 'zero' | 'raw';
}

export interface AdvantageInput {
  groups: readonly ScoredGroup[];
  /** Per-token values `[sample][t]` for estimators that need a critic (GAE). */
  values?: readonly (readonly number[])[];
  /** Per-token log π_old `[sample][t]`, given to estimators that ask for it (e.g. KL-in-reward). */
  oldLogprobs?: readonly (readonly number[])[];
  /** Per-token log π_ref `[sample][t]`, when a reference policy is loaded. */
  refLogprobs?: readonly (readonly number[])[];
  /** PPO-style KL in the reward (`algorithm.kl.inReward`): r_t ← r_t − β·(old − ref) per token. */
  klInReward?: { beta: number };
  options: AdvantageOptions;
}

export const AdvantageEstimator = Symbol.for('grpo.AdvantageEstimator');
/** Turns scored groups into per-token advantages. Selected by `name` from config. */
export interface AdvantageEstimator {
  readonly name: string;
  /** True when the estimator needs per-token values from a `ValueModel`. */
  readonly needsValues?: boolean;
  /** True when the estimator needs per-token π_old (and π_ref) log-probs, e.g. to put KL in the reward. */
  readonly needsLogprobs?: boolean;
  estimate(input: AdvantageInput): AdvantageBatch;
}

export const KlEstimator = Symbol.for('grpo.KlEstimator');
/** Per-token KL(π_θ ‖ π_ref) estimate from log-probs `[B, L]`. */
export interface KlEstimator {
  readonly name: string;
  estimate(logprobs: tf.Tensor2D, refLogprobs: tf.Tensor2D): tf.Tensor2D;
}

/** Counts over the whole optimizer step, so micro-batches normalise as one batch would. */
export interface AggregationContext {
  /** Valid tokens in the whole optimizer step. */
  totalTokens: number;
  /** Sequences in the whole optimizer step. */
  totalSequences: number;
  /** Longest completion length allowed (Dr. GRPO's constant normaliser). */
  maxLength: number;
}

export const LossAggregation = Symbol.for('grpo.LossAggregation');
/** Reduces a per-token loss `[B, L]` and mask to the micro-batch's share of the step's scalar loss. */
export interface LossAggregation {
  readonly name: string;
  aggregate(perToken: tf.Tensor2D, mask: tf.Tensor2D, context: AggregationContext): tf.Scalar;
}

/** Tensors an objective sees for one micro-batch, all `[B, L]`. */
export interface ObjectiveInput {
  logprobs: tf.Tensor2D;
  oldLogprobs: tf.Tensor2D;
  /** Absent when β = 0 (no reference model is loaded). */
  refLogprobs?: tf.Tensor2D;
  advantages: tf.Tensor2D;
  mask: tf.Tensor2D;
  entropy?: tf.Tensor2D;
}

export interface ObjectiveResult {
  loss: tf.Scalar;
  /** Scalars to log (e.g. `clip_ratio/low_mean`, `kl`); each already aggregated for the micro-batch. */
  metrics: Record<string, tf.Scalar>;
}

export const Objective = Symbol.for('grpo.Objective');
/** The policy loss of one micro-batch. */
export interface Objective {
  readonly name: string;
  loss(input: ObjectiveInput, aggregation: LossAggregation, context: AggregationContext): ObjectiveResult;
}

export const Algorithm = Symbol.for('grpo.Algorithm');
/**
 * What the estimate and update stages run, bound by the algorithm plugin from the config section
 * it owns (`@grpo/plugin-grpo` from `algorithm`): the chosen estimator with its options, the
 * objective, the loss aggregation, and where the KL penalty to the reference policy goes.
 */
export interface Algorithm {
  readonly estimator: AdvantageEstimator;
  readonly advantageOptions: AdvantageOptions;
  readonly objective: Objective;
  readonly aggregation: LossAggregation;
  /**
   * The KL penalty to π_ref: `none` loads no reference policy; `loss` gives the objective π_ref's
   * log-probs; `reward` gives them to the estimator, which puts −β·(log π_old − log π_ref) in the
   * per-token reward (PPO-style).
   */
  readonly kl: { readonly placement: 'none' | 'loss' | 'reward'; readonly beta: number };
}
