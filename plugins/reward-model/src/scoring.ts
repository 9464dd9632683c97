/**
 * A learned reward model: the transformer backbone with a scalar head (`ScalarHeadModel`,
 * alignment `after`: the score at completion token j reads the text up to and including j).
 *
 * - outcome (ORM): σ(score at the last token) — the completion is encoded with a final EOS, so the
 *   last token has read the whole completion; trained with binary cross-entropy.
 * - process (PRM): one probability per step, read at the token that holds the step's last
 *   character (core's `charToToken`, the same token the trainer puts step rewards on); trained
 *   with binary cross-entropy per step.
 * - preference (Bradley–Terry): −log σ(r_chosen − r_rejected) on last-token scores.
 *
 * This module builds, loads and serves the model (per-token scores, outcome and step scores, the
 * `RewardFunction`); the losses, the training loop, held-out metrics and checkpoints live in
 * losses.ts, training.ts, evaluation.ts and checkpoint.ts.
 */
import * as tf from '@tensorflow/tfjs';
import {
  charToToken,
  type AdamW,
  type DatasetRow,
  type OptimizerState,
  type RewardExample,
  type RewardInput,
  type RewardModel,
  type RewardScore,
  type Tokenizer,
} from '@grpo/core';
import { ScalarHeadModel, type ModelOptions, type TransformerPolicy } from '@grpo/plugin-transformer';
import { readRewardModel, restoreRewardModel, writeRewardModel, type TrainDefaults } from './checkpoint.js';
import { encodeForScoring, type TokenScores } from './encoding.js';
import { heldOutMetrics } from './evaluation.js';
import { outputOf, pooledLogit, resolveScoring, type ResolvedScoring, type ScoringOptions } from './readout.js';
import { splitSteps } from './steps.js';
import { batchLoss, createOptimizer, runTraining, type TrainOptions } from './training.js';

export interface CreateRewardModelOptions extends ScoringOptions {
  tokenizer: Tokenizer;
  /** Architecture of a fresh backbone (ignored with `from`). */
  model?: ModelOptions;
  /** Initialise the backbone from a policy (e.g. the SFT checkpoint). */
  from?: TransformerPolicy;
  /**
   * Score token t as w·h_t + b + a·log p(x_t | x_<t), the log-probability from the backbone's own
   * language-model head (a starts at 1; see `ScalarHeadModel.create`). From a policy, the reward
   * model starts out knowing which tokens that policy finds unlikely.
   */
  likelihood?: boolean;
  seed?: number;
  /** Defaults for `train`. */
  train?: TrainDefaults;
}

export class TransformerRewardModel<Row extends DatasetRow = DatasetRow> implements RewardModel<Row> {
  readonly name: string;
  readonly scoring: ResolvedScoring;
  readonly trainDefaults: TrainDefaults;
  private readonly optimizer: AdamW;
  /** Optimizer steps taken over the model's life (saved with it); `runTraining` advances it. */
  private readonly progress = { steps: 0 };
  private disposed = false;

  constructor(
    readonly head: ScalarHeadModel,
    scoring: ScoringOptions = {},
    train: TrainDefaults = {},
  ) {
    if (head.alignment !== 'after') throw new Error(`a reward model needs a scalar head aligned 'after' each token, got '${head.alignment}'`);
    this.scoring = resolveScoring(scoring);
    this.name = this.scoring.name;
    this.trainDefaults = train;
    this.optimizer = createOptimizer(train);
  }

  static create<Row extends DatasetRow = DatasetRow>(options: CreateRewardModelOptions): TransformerRewardModel<Row> {
    const head = ScalarHeadModel.create({
      tokenizer: options.tokenizer,
      model: options.model,
      from: options.from,
      seed: options.seed,
      alignment: 'after',
      likelihood: options.likelihood,
    });
    return new TransformerRewardModel<Row>(head, options, options.train);
  }

  /** Loads a checkpoint written by `save` (validated: format, architecture, tensors, tokenizer). */
  static async load<Row extends DatasetRow = DatasetRow>(dir: string, overrides: ScoringOptions = {}): Promise<TransformerRewardModel<Row>> {
    const saved = await readRewardModel(dir);
    const model = new TransformerRewardModel<Row>(saved.head, { ...saved.scoring, ...overrides }, saved.train);
    model.progress.steps = saved.trainedSteps;
    return model;
  }

  get tokenizer(): Tokenizer {
    return this.head.tokenizer;
  }

  get steps(): number {
    return this.progress.steps;
  }

  /** Raw per-token scores (logits) of each completion, in chunks of `scoring.batchSize`; leaves no tensors. */
  async tokenScores(items: readonly { prompt: string; completion: string }[]): Promise<TokenScores[]> {
    this.checkAlive();
    const out: TokenScores[] = [];
    const size = this.scoring.batchSize;
    for (let i = 0; i < items.length; i += size) {
      const enc = items.slice(i, i + size).map((x) => encodeForScoring(this.head.tokenizer, this.head.config.maxSeqLen, x.prompt, x.completion));
      const scores = tf.tidy(() => this.head.scores({ prompts: enc.map((e) => e.prompt), completions: enc.map((e) => e.completion) }));
      const data = await scores.data();
      scores.dispose();
      const L = scores.shape[1];
      enc.forEach((e, b) => out.push({ logits: Array.from(data.subarray(b * L, b * L + e.completion.length)), ends: e.ends }));
    }
    return out;
  }

  /** The logit of "right up to and including token `at`" from one completion's token scores (see `pooling`). */
  pooledLogit(logits: readonly number[], at: number): number {
    return pooledLogit(logits, at, this.scoring.pooling);
  }

  /** The outcome logit of one completion's token scores (see `pooling`). */
  outcomeLogit(logits: readonly number[]): number {
    return this.pooledLogit(logits, logits.length - 1);
  }

  /** Outcome score of each completion. */
  async outcomeScores(items: readonly { prompt: string; completion: string }[]): Promise<number[]> {
    return (await this.tokenScores(items)).map((s) => outputOf(this.outcomeLogit(s.logits), this.scoring));
  }

  /** Per-step scores at the given step ends (or the step splitter's). */
  async stepScores(items: readonly { prompt: string; completion: string; ends?: readonly number[] }[]): Promise<number[][]> {
    const scores = await this.tokenScores(items);
    return scores.map((s, i) => {
      const ends = items[i]!.ends ?? splitSteps(items[i]!.completion, this.scoring.steps);
      return ends.map((e) => outputOf(this.pooledLogit(s.logits, charToToken(s.ends, e)), this.scoring));
    });
  }

  /** Serves the model as a reward function (batched; leaves no tensors). */
  async score(input: RewardInput<Row>): Promise<RewardScore[]> {
    const items = input.completions.map((completion, i) => ({ prompt: input.prompts[i] ?? '', completion }));
    const scores = await this.tokenScores(items);
    return scores.map((s, i) => {
      const last = outputOf(this.scoring.mode === 'preference' ? s.logits[s.logits.length - 1]! : this.outcomeLogit(s.logits), this.scoring);
      if (this.scoring.mode !== 'process') return last;
      const completion = items[i]!.completion;
      const steps = splitSteps(completion, this.scoring.steps).map((endChar) => ({
        endChar,
        reward: outputOf(this.pooledLogit(s.logits, charToToken(s.ends, endChar)), this.scoring),
      }));
      if (steps.length === 0) return { score: last, steps };
      const values = steps.map((x) => x.reward);
      return { score: this.scoring.processScore === 'last' ? values[values.length - 1]! : Math.min(...values), steps };
    });
  }

  /** The training loss of a batch of examples (a scalar tensor; differentiable; see `batchLoss`). */
  loss(batch: readonly RewardExample[]): tf.Scalar {
    return batchLoss(this.head, this.scoring.pooling, batch);
  }

  /** Trains on `examples` (any mix of kinds); returns the mean loss of the last epoch and, with `eval`, `eval/*` metrics. */
  async train(examples: readonly RewardExample[], options: TrainOptions = {}): Promise<Record<string, number>> {
    this.checkAlive();
    const target = {
      head: this.head,
      optimizer: this.optimizer,
      pooling: this.scoring.pooling,
      progress: this.progress,
      evaluate: (e: readonly RewardExample[]) => this.evaluate(e),
    };
    return runTraining(target, examples, { ...this.trainDefaults, ...options });
  }

  /** Held-out metrics per kind of example present (see `heldOutMetrics`). */
  async evaluate(examples: readonly RewardExample[]): Promise<Record<string, number>> {
    return heldOutMetrics(this, examples);
  }

  /** The optimizer's moments and step (saved in trainer checkpoints during iterative RL). */
  getOptimizerState(): OptimizerState {
    this.checkAlive();
    return this.optimizer.getState(this.head.trainableVariables());
  }

  setOptimizerState(state: OptimizerState): void {
    this.checkAlive();
    this.optimizer.setState(state, this.head.trainableVariables());
  }

  /**
   * Replaces this model's weights and step count with a checkpoint's (written by `save`; validated:
   * format, same architecture and tokenizer). Scoring options stay as they are.
   */
  async restore(dir: string): Promise<void> {
    this.checkAlive();
    this.progress.steps = await restoreRewardModel(this.head, dir);
  }

  /** Writes the backbone, head, tokenizer and `reward-model.json` atomically into `dir`. */
  async save(dir: string): Promise<void> {
    this.checkAlive();
    await writeRewardModel(dir, { head: this.head, scoring: this.scoring, train: this.trainDefaults, trainedSteps: this.progress.steps });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.optimizer.dispose();
    this.head.dispose();
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('this reward model has been disposed');
  }
}
