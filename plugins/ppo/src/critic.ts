/**
 * The critic as an update participant: its values feed GAE before estimation, vfCoef times the
 * clipped value loss joins every micro-batch's loss, and its own AdamW steps with its gradients
 * after the policy's step. Its weights, optimizer and the adaptive KL β go into checkpoints.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  AdamW,
  GrpoError,
  type AdamWOptions,
  type AggregationContext,
  type LossAggregation,
  type ObjectiveResult,
  type ParticipantInput,
  type TokenBatch,
  type UpdateParticipant,
} from '@grpo/core';
import { readOptimizerState, writeOptimizerState } from '@grpo/core/checkpoint';
import { CheckpointError } from '@grpo/core';
import { clippedValueLoss } from './objective.js';
import type { ValueModel } from './value-model.js';

export interface CriticOptions {
  /** Weight of the value loss (default 1: critic and policy are separate networks with their own optimizers). */
  vfCoef: number;
  /** c of the value clipping (default 0.5). */
  valueClip: number;
  /** Learning rate of the critic's optimizer; absent: the policy's scheduled rate. */
  learningRate?: number;
  maxGradNorm: number;
  adam: AdamWOptions;
}

export class CriticParticipant implements UpdateParticipant {
  readonly name = 'critic';
  private readonly optimizer: AdamW;

  constructor(
    readonly model: ValueModel,
    private readonly options: CriticOptions,
  ) {
    if (!(options.vfCoef >= 0)) throw new GrpoError(`ppo: vfCoef must be ≥ 0, got ${options.vfCoef}`);
    if (!(options.valueClip > 0)) throw new GrpoError(`ppo: valueClip must be > 0, got ${options.valueClip}`);
    this.optimizer = new AdamW(options.adam);
  }

  values(batch: TokenBatch): tf.Tensor2D {
    return this.model.values(batch);
  }

  trainableVariables(): tf.Variable[] {
    return this.model.trainableVariables();
  }

  loss(input: ParticipantInput, aggregation: LossAggregation, context: AggregationContext): ObjectiveResult {
    const { oldValues, returns } = input;
    if (!oldValues || !returns) throw new GrpoError("ppo's critic needs its values before the update and the estimator's returns: use the 'gae' estimator");
    return tf.tidy(() => {
      const value = clippedValueLoss(
        { values: this.model.values(input.tokens), oldValues, returns, mask: input.mask },
        aggregation,
        context,
        this.options.valueClip,
      );
      return { loss: tf.mul(value.loss, this.options.vfCoef) as tf.Scalar, metrics: value.metrics };
    });
  }

  applyGradients(grads: Record<string, tf.Tensor>, lr: number): Record<string, number> {
    const norm = this.optimizer.update(this.trainableVariables(), grads, { lr: this.options.learningRate ?? lr, maxGradNorm: this.options.maxGradNorm });
    return { 'critic/grad_norm': norm };
  }

  /** The critic's weights (and adaptive KL β) under `critic/`, its optimizer moments in `optimizer.safetensors`. */
  async saveState(dir: string): Promise<void> {
    await this.model.save(join(dir, 'critic'));
    await writeOptimizerState(join(dir, 'optimizer.safetensors'), this.optimizer.getState(this.trainableVariables()));
  }

  async loadState(dir: string): Promise<void> {
    const file = join(dir, 'optimizer.safetensors');
    const state = await readOptimizerState(file);
    await this.model.load(join(dir, 'critic'));
    try {
      this.optimizer.setState(state, this.trainableVariables());
    } catch (error) {
      throw new CheckpointError(`${file}: ${(error as Error).message}`);
    }
  }

  dispose(): void {
    this.optimizer.dispose();
    this.model.dispose();
  }
}
