import type * as tf from '@tensorflow/tfjs';
import type { TokenBatch } from '../records.js';

export const ValueModel = Symbol.for('grpo.ValueModel');
/** PPO's critic: a value per completion token. GRPO needs none. */
export interface ValueModel {
  /** `[B, Lmax]` values at completion positions, zero at padding; differentiable. */
  values(batch: TokenBatch): tf.Tensor2D;
  trainableVariables(): tf.Variable[];
  save(dir: string): Promise<void>;
  dispose(): void;
}
