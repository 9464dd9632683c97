import type * as tf from '@tensorflow/tfjs';
import type { TokenBatch } from '../records.js';
import type { AggregationContext, LossAggregation, ObjectiveResult } from './algorithm.js';
import type { FrozenPolicy, Policy } from './policy.js';
import type { Stateful } from './state.js';

export const ReferenceSchedule = Symbol.for('grpo.ReferenceSchedule');
/**
 * When π_ref moves: DeepSeekMath's periodic reset, TR-DPO's mixing, iterative RL's reset after each
 * reward-model round. Called after every step's update, in binding order, when a reference policy
 * is loaded.
 */
export interface ReferenceSchedule {
  readonly name: string;
  afterUpdate(event: { step: number; policy: Policy; reference: FrozenPolicy }): void;
}

/** Tensors a participant sees for one micro-batch, `[B, L]` with L the policy log-probs' width. */
export interface ParticipantInput {
  readonly tokens: TokenBatch;
  readonly mask: tf.Tensor2D;
  /** Its own values computed before estimation (from `values`), when it gives any. */
  readonly oldValues?: tf.Tensor2D;
  /** The estimator's value targets (`AdvantageBatch.returns`), when it computes them. */
  readonly returns?: tf.Tensor2D;
}

export const UpdateParticipant = Symbol.for('grpo.UpdateParticipant');
/**
 * A model trained in the update stage beside the policy (PPO's critic). Its loss term joins the
 * objective's in every micro-batch's gradient; once per mini-batch, after the policy's optimizer
 * step, it steps its own optimizer with its gradients. It can give the estimator per-token values
 * (`AdvantageInput.values`), and keeps its weights and optimizer in checkpoints (`Stateful`).
 */
export interface UpdateParticipant extends Stateful {
  /** `[B, L]` values of a batch (zero at padding), computed without gradients before estimation. */
  values?(batch: TokenBatch): tf.Tensor2D;
  trainableVariables(): tf.Variable[];
  /** Its term of one micro-batch's loss, computed inside the gradient computation. */
  loss(input: ParticipantInput, aggregation: LossAggregation, context: AggregationContext): ObjectiveResult;
  /** Steps its optimizer with a mini-batch's accumulated gradients (by variable name); `lr` is the policy's scheduled rate. Returns metrics. */
  applyGradients(grads: Record<string, tf.Tensor>, lr: number): Record<string, number>;
  dispose?(): void;
}
