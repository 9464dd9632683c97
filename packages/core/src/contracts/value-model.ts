import type * as tf from '@tensorflow/tfjs';
import type { TokenBatch } from '../records.js';

export const ValueModel = Symbol.for('grpo.ValueModel');
/**
 * PPO's critic: a value per completion token, with its own optimizer. GRPO needs none; when a
 * plugin binds one, the trainer computes values before the update and trains the critic with the
 * objective's value loss.
 */
export interface ValueModel {
  /** `[B, Lmax]` values at completion positions (same layout as `Policy.tokenLogProbs`), zero at padding; differentiable. */
  values(batch: TokenBatch): tf.Tensor2D;
  trainableVariables(): tf.Variable[];
  /** Learning rate of the critic's optimizer; defaults to `train.learningRate`. */
  readonly learningRate?: number;
  save(dir: string): Promise<void>;
  load(dir: string): Promise<void>;
  dispose(): void;
}
