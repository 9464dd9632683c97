/**
 * The clipped surrogate objective of GRPO/PPO, with DAPO's clip-higher, verl's dual-clip,
 * GSPO's sequence-level ratio, β·KL in the loss and an entropy bonus.
 */
import * as tf from '@tensorflow/tfjs';
import type { AggregationContext, GrpoConfig, KlEstimator, LossAggregation, Objective, ObjectiveInput, ObjectiveResult } from '@grpo/core';
import { GrpoError } from '@grpo/core';
import { k3 } from './kl.js';

export interface ClippedSurrogateOptions {
  /** ρ is clipped below at 1 − epsilonLow (default 0.2). */
  epsilonLow: number;
  /** ρ is clipped above at 1 + epsilonHigh (default epsilonLow; DAPO's clip-higher uses 0.28). */
  epsilonHigh: number;
  /** Dual-clip constant c > 1 (verl `clip_ratio_c`, usually 3): caps the loss of A < 0 tokens at −c·A. Off when absent. */
  dualClip?: number;
  /** `token` (GRPO/PPO) or `sequence` (GSPO: the length-normalised sequence ratio for every token). */
  ratioLevel: 'token' | 'sequence';
  /** Weight of the entropy bonus (subtracted from the loss); 0 turns it off. */
  entropyCoef: number;
  /** β of the per-token KL penalty in the loss; 0 turns it off. */
  beta: number;
  /** The KL estimator of the penalty and of the `kl` metric (default k3). */
  kl: KlEstimator;
}

/** Bounds of log ρ before exp, so a stale or broken log-prob cannot overflow. */
const LOG_RATIO_BOUND = 20;

/**
 * `clipped-surrogate`: per token ℓ = −min(ρA, clip(ρ, 1 − ε_low, 1 + ε_high)A), with
 * ρ = exp(clamp(logp − old, −20, 20)) (or GSPO's sequence ratio s_i); when A < 0 and dual-clip is on,
 * ℓ = min(ℓ, −c·A); then ℓ += β·KL (when reference log-probs are given and β > 0) and
 * ℓ −= entropyCoef·entropy (when entropy is given and the coefficient > 0); finally aggregated.
 *
 * Metrics (means over the micro-batch's valid tokens): `clip_ratio/low_mean` (ρ < 1 − ε_low, A < 0),
 * `clip_ratio/high_mean` (ρ > 1 + ε_high, A > 0), `clip_ratio/region_mean` (either),
 * `clip_ratio/dual_mean` (with dual-clip: A < 0 and ρ > c), `kl` (when reference log-probs are
 * given), `entropy` (when given), `ratio/mean`.
 */
export function clippedSurrogate(options: Partial<ClippedSurrogateOptions> = {}): Objective {
  const epsilonLow = options.epsilonLow ?? 0.2;
  const epsilonHigh = options.epsilonHigh ?? epsilonLow;
  const { dualClip } = options;
  const ratioLevel = options.ratioLevel ?? 'token';
  const entropyCoef = options.entropyCoef ?? 0;
  const beta = options.beta ?? 0;
  const kl = options.kl ?? k3;
  if (!(epsilonLow >= 0 && epsilonLow < 1)) throw new GrpoError(`clipped-surrogate: epsilonLow must be in [0, 1), got ${epsilonLow}.`);
  if (!(epsilonHigh >= 0)) throw new GrpoError(`clipped-surrogate: epsilonHigh must be ≥ 0, got ${epsilonHigh}.`);
  if (dualClip !== undefined && !(dualClip > 1)) throw new GrpoError(`clipped-surrogate: dualClip must be > 1, got ${dualClip}.`);
  if (!(beta >= 0) || !(entropyCoef >= 0)) throw new GrpoError('clipped-surrogate: beta and entropyCoef must be ≥ 0.');

  return {
    name: 'clipped-surrogate',
    loss(input: ObjectiveInput, aggregation: LossAggregation, context: AggregationContext): ObjectiveResult {
      return tf.tidy(() => {
        const { logprobs, oldLogprobs, mask } = input;
        const valid = tf.greater(mask, 0);
        // Not zerosLike(logprobs): that would put logprobs upstream of the comparisons below in the tape.
        const zeros = tf.zeros(logprobs.shape);
        const validF = tf.cast(valid, 'float32');
        const nValid = tf.maximum(tf.sum(validF), 1);
        const maskedMean = (x: tf.Tensor): tf.Scalar => tf.div(tf.sum(tf.mul(x, validF)), nValid) as tf.Scalar;
        const fraction = (b: tf.Tensor): tf.Scalar => maskedMean(tf.cast(tf.logicalAnd(b, valid), 'float32'));

        // Padding may hold anything (even −∞): only valid positions reach the non-linear ops.
        const advantages = tf.where(valid, input.advantages, zeros);
        const logRatio = tf.clipByValue(tf.where(valid, tf.sub(logprobs, oldLogprobs), zeros), -LOG_RATIO_BOUND, LOG_RATIO_BOUND);
        let ratio: tf.Tensor2D;
        if (ratioLevel === 'sequence') {
          // GSPO: log s_i = Σ_t m(logp − old) / max(1, Σ_t m), the same s_i on every token.
          const seqLog = tf.div(tf.sum(tf.mul(logRatio, validF), 1, true), tf.maximum(tf.sum(validF, 1, true), 1));
          ratio = tf.broadcastTo(tf.exp(seqLog), logprobs.shape) as tf.Tensor2D;
        } else {
          ratio = tf.exp(logRatio) as tf.Tensor2D;
        }
        const clipped = tf.clipByValue(ratio, 1 - epsilonLow, 1 + epsilonHigh);
        // ℓ = −min(ρA, ρcA) = max(−ρA, −ρcA).
        let perToken: tf.Tensor2D = tf.maximum(tf.neg(tf.mul(ratio, advantages)), tf.neg(tf.mul(clipped, advantages)));
        const negative = tf.less(advantages, 0);
        const metrics: Record<string, tf.Scalar> = {};
        if (dualClip !== undefined) {
          perToken = tf.where(negative, tf.minimum(perToken, tf.mul(advantages, -dualClip)), perToken) as tf.Tensor2D;
          metrics['clip_ratio/dual_mean'] = fraction(tf.logicalAnd(negative, tf.greater(ratio, dualClip)));
        }
        if (input.refLogprobs) {
          const k = kl.estimate(tf.where(valid, logprobs, zeros) as tf.Tensor2D, tf.where(valid, input.refLogprobs, zeros) as tf.Tensor2D);
          if (beta > 0) perToken = tf.add(perToken, tf.mul(k, beta));
          metrics.kl = maskedMean(k);
        }
        if (input.entropy) {
          const entropy = tf.where(valid, input.entropy, zeros);
          if (entropyCoef > 0) perToken = tf.sub(perToken, tf.mul(entropy, entropyCoef));
          metrics.entropy = maskedMean(entropy);
        }
        const low = tf.logicalAnd(tf.less(ratio, 1 - epsilonLow), negative);
        const high = tf.logicalAnd(tf.greater(ratio, 1 + epsilonHigh), tf.greater(advantages, 0));
        metrics['clip_ratio/low_mean'] = fraction(low);
        metrics['clip_ratio/high_mean'] = fraction(high);
        metrics['clip_ratio/region_mean'] = fraction(tf.logicalOr(low, high));
        metrics['ratio/mean'] = maskedMean(ratio);
        const loss = aggregation.aggregate(perToken, tf.cast(mask, 'float32') as tf.Tensor2D, context);
        return { loss, metrics };
      });
    },
  };
}

/** The clipped surrogate's options as the config gives them (`algorithm.objective`, `algorithm.kl.beta`), with the KL estimator chosen by the caller. */
export function surrogateOptionsFromConfig(config: Pick<GrpoConfig, 'algorithm'>, kl: KlEstimator): ClippedSurrogateOptions {
  const { objective, kl: klConfig } = config.algorithm;
  return {
    epsilonLow: objective.epsilonLow,
    epsilonHigh: objective.epsilonHigh,
    dualClip: objective.dualClip,
    ratioLevel: objective.ratioLevel,
    entropyCoef: objective.entropyCoef,
    beta: klConfig.beta,
    kl,
  };
}
