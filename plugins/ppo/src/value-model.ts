/**
 * PPO's critic on the transformer: `ScalarHeadModel` with alignment `before`, so the value of
 * completion token j is V(s_j), the value of the state that emits it (the same positions as the
 * policy's log-probs).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { CheckpointError, type Policy, type TokenBatch, type Tokenizer } from '@grpo/core';
import { ScalarHeadModel, type ModelOptions } from '@grpo/plugin-transformer';
import type { KlController } from './kl-controller.js';

/** PPO's critic: a value per completion token, trained by the `critic` update participant. */
export interface ValueModel {
  /** `[B, Lmax]` values at completion positions (the layout of `Policy.tokenLogProbs`), zero at padding; differentiable. */
  values(batch: TokenBatch): tf.Tensor2D;
  trainableVariables(): tf.Variable[];
  save(dir: string): Promise<void>;
  load(dir: string): Promise<void>;
  dispose(): void;
}

/** Where the adaptive KL controller's β is kept, next to the critic's weights. */
export const KL_STATE_FILE = 'ppo-kl-controller.json';

export class TransformerValueModel implements ValueModel {
  private readonly kl: KlController | undefined;

  constructor(
    readonly model: ScalarHeadModel,
    options: { klController?: KlController } = {},
  ) {
    if (model.alignment !== 'before') throw new TypeError(`a critic scores the state before each token: alignment must be 'before', got '${model.alignment}'`);
    this.kl = options.klController;
  }

  /** A critic whose backbone is a copy of the policy's (the usual PPO-RLHF start). */
  static fromPolicy(policy: Policy, options: { seed?: number; klController?: KlController } = {}): TransformerValueModel {
    return new TransformerValueModel(ScalarHeadModel.create({ tokenizer: policy.tokenizer, from: policy, seed: options.seed, alignment: 'before' }), options);
  }

  /** A critic built from scratch with its own sizes and seed. */
  static create(options: { tokenizer: Tokenizer; model?: ModelOptions; seed?: number; klController?: KlController }): TransformerValueModel {
    return new TransformerValueModel(
      ScalarHeadModel.create({ tokenizer: options.tokenizer, model: options.model, seed: options.seed, alignment: 'before' }),
      options,
    );
  }

  values(batch: TokenBatch): tf.Tensor2D {
    return this.model.scores(batch);
  }

  trainableVariables(): tf.Variable[] {
    return this.model.trainableVariables();
  }

  /** Weights, config and tokenizer; plus the adaptive KL controller's β when there is one. */
  async save(dir: string): Promise<void> {
    await this.model.save(dir);
    if (this.kl?.adaptive) await writeFile(join(dir, KL_STATE_FILE), `${JSON.stringify(this.kl.getState())}\n`);
  }

  async load(dir: string): Promise<void> {
    await this.model.load(dir);
    if (!this.kl?.adaptive) return;
    const file = join(dir, KL_STATE_FILE);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      throw new CheckpointError(
        `${file} is missing: the checkpoint was written without an adaptive KL controller, but this run has one; resume with the same config`,
      );
    }
    const state = JSON.parse(text) as { beta?: number | null };
    this.kl.setState(state);
  }

  dispose(): void {
    this.model.dispose();
  }
}
