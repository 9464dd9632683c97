/**
 * PPO's losses (Schulman et al. 2017, "Proximal Policy Optimization Algorithms", Eq. 9 with
 * separate networks): the clipped surrogate of `@grpo/plugin-grpo` for the policy, and the
 * clipped value loss of the critic
 *
 *   V̂c = clip(V̂, V_old − c, V_old + c),   L_V = ½·agg(max((V̂ − R)², (V̂c − R)²))
 *
 * aggregated over valid tokens with the run's `LossAggregation` (c = 0.5 by default). The critic
 * participant (`critic.ts`) adds vfCoef·L_V to each micro-batch's loss.
 */
import * as tf from '@tensorflow/tfjs';
import { GrpoError } from '@grpo/core';
import type { AggregationContext, LossAggregation, Objective, ObjectiveInput, ObjectiveResult } from '@grpo/core';
import { clippedSurrogate, type ClippedSurrogateOptions } from '@grpo/plugin-grpo';

export interface ValueLossInput {
  /** The critic's current values `[B, L]` (differentiable). */
  values: tf.Tensor2D;
  /** The values when the batch was sampled `[B, L]`. */
  oldValues: tf.Tensor2D;
  /** GAE returns (value targets) `[B, L]`. */
  returns: tf.Tensor2D;
  mask: tf.Tensor2D;
}

/**
 * The clipped value loss ½·agg(max((V − R)², (Vc − R)²)), Vc = clip(V, V_old − c, V_old + c).
 * Metrics are means over the valid tokens: `value_loss` (½·max(…)), `value_clip_frac` (tokens
 * where the clipped term is the larger one, so V gets no gradient), `values/mean`, `returns/mean`.
 */
export function clippedValueLoss(input: ValueLossInput, aggregation: LossAggregation, context: AggregationContext, clip = 0.5): ObjectiveResult {
  if (!(clip > 0)) throw new GrpoError(`ppo: valueClip must be > 0, got ${clip}`);
  return tf.tidy(() => {
    const valid = tf.greater(input.mask, 0);
    const zeros = tf.zeros(input.mask.shape);
    const validF = tf.cast(valid, 'float32');
    const nValid = tf.maximum(tf.sum(validF), 1);
    const maskedMean = (x: tf.Tensor): tf.Scalar => tf.div(tf.sum(tf.mul(x, validF)), nValid) as tf.Scalar;
    // Padding may hold anything: only valid positions reach the loss (and the gradient).
    const values = tf.where(valid, input.values, zeros);
    const oldValues = tf.where(valid, input.oldValues, zeros);
    const returns = tf.where(valid, input.returns, zeros);
    const clipped = tf.minimum(tf.maximum(values, tf.sub(oldValues, clip)), tf.add(oldValues, clip));
    const unclippedLoss = tf.square(tf.sub(values, returns));
    const clippedLoss = tf.square(tf.sub(clipped, returns));
    const perToken = tf.mul(tf.maximum(unclippedLoss, clippedLoss), 0.5) as tf.Tensor2D;
    const loss = aggregation.aggregate(perToken, validF as tf.Tensor2D, context);
    return {
      loss,
      metrics: {
        value_loss: maskedMean(perToken),
        value_clip_frac: maskedMean(tf.cast(tf.greater(clippedLoss, unclippedLoss), 'float32')),
        'values/mean': maskedMean(values),
        'returns/mean': maskedMean(returns),
      },
    };
  });
}

/**
 * The `ppo` objective: the clipped surrogate for the policy (with its optional β·KL in the loss and
 * entropy bonus), logged also as `policy_loss`. The value loss is the `critic` participant's term.
 */
export function ppoObjective(options: { surrogate?: Partial<ClippedSurrogateOptions> } = {}): Objective {
  const surrogate = clippedSurrogate(options.surrogate);
  return {
    name: 'ppo',
    loss(input: ObjectiveInput, aggregation: LossAggregation, context: AggregationContext): ObjectiveResult {
      return tf.tidy(() => {
        const policy = surrogate.loss(input, aggregation, context);
        return { loss: policy.loss, metrics: { ...policy.metrics, policy_loss: tf.clone(policy.loss) } };
      });
    },
  };
}
