/**
 * Plain typed records that flow through one GRPO step:
 * PromptDataset rows → Rollout (per prompt, G completions) → ScoredGroup → AdvantageBatch → loss.
 */

import type { ChatMessage } from './contracts/tokenizer.js';

/**
 * One dataset example. `prompt` is required; every other field reaches the reward functions. A row
 * with `messages` is a conversation: its prompt is rendered with the policy's chat template
 * instead of `data.promptTemplate` (a JSONL row with `messages` and no prompt field gets its last user message as `prompt`, for rewards and logs).
 */
export interface DatasetRow {
  /** The prompt text (filled into `data.promptTemplate`). */
  prompt: string;
  /** A conversation to render with the policy's chat template instead of the prompt. */
  messages?: readonly ChatMessage[];
  [field: string]: unknown;
}

/** Why generation stopped: EOS token, a stop string, or the token limit. */
export type FinishReason = 'eos' | 'stop' | 'length';

/** One sampled completion with the sampling policy's per-token log-probs. */
export interface Completion {
  tokenIds: number[];
  text: string;
  /** log π_old(token) for each generated token, as sampled (temperature applied); 0 for environment tokens. */
  logprobs: number[];
  /**
   * Each token's log-prob under the model's full softmax at temperature 1 (vLLM's `raw_logprobs`),
   * when the engine reports them: the numbers the off-policy correction compares with the
   * trainer's. Without them `logprobs` serve only when sampling was plain (`generation.correction`).
   */
  rawLogprobs?: number[];
  finishReason: FinishReason;
  /**
   * Multi-turn trajectories (an `Environment`): 1 where the model sampled the token, 0 where the
   * environment inserted it; environment tokens never count in the loss. Absent: every token is the model's.
   */
  mask?: number[];
  /** Multi-turn trajectories: the model's turns in order, with the environment's answers and rewards. */
  turns?: TrajectoryTurn[];
}

/**
 * One model turn of a multi-turn trajectory. Token ranges index the completion's token ids: the
 * model's tokens `[start, end)`, then the environment's observation `[end, observationEnd)`.
 * Tokens before the first turn's `start` are the environment's first observation (`reset`).
 */
export interface TrajectoryTurn {
  start: number;
  end: number;
  observationEnd: number;
  /** The observation's text, when one was appended. */
  observation?: string;
  /** The environment's reward for this turn, when it gave one. */
  reward?: number;
  /** The environment's counts for this turn (`tools/calls`, …). */
  metrics?: Record<string, number>;
  /** Set when the environment failed on this turn under `rewards.onError: penalty`; the trajectory ended here. */
  error?: string;
}

/** Prompt and completion token ids, unpadded; models pad internally. */
export interface TokenBatch {
  prompts: readonly (readonly number[])[];
  completions: readonly (readonly number[])[];
}

/** G completions of one prompt. */
export interface Rollout<Row extends DatasetRow = DatasetRow> {
  row: Row;
  /** The prompt as rendered from the row (`data.promptTemplate`, or the chat template for `messages`). */
  prompt: string;
  promptIds: number[];
  completions: Completion[];
}

/** Per-token reward at the end of a reasoning step (process supervision); `token` indexes the completion. */
export interface TokenStepReward {
  token: number;
  reward: number;
}

/** A rollout with its combined rewards. */
export interface ScoredGroup<Row extends DatasetRow = DatasetRow> extends Rollout<Row> {
  /** Weighted sum of applicable rewards per completion. */
  rewards: number[];
  /**
   * Per-step rewards per completion, when some reward function gives them; a completion's
   * outcome (scalar) reward is included as a step at its last token.
   */
  stepRewards?: TokenStepReward[][];
  /** Per reward function: raw scores (null = not applicable). */
  rewardsByFunction: Record<string, (number | null)[]>;
  /** Completions for which no reward applied (they get advantage 0). */
  unscored: boolean[];
  /** Completions left out of the loss (mask 0), e.g. truncated ones with `algorithm.maskTruncated`. */
  masked?: boolean[];
}

/** Output of an advantage estimator: one row per completion, in group order, one value per completion token. */
export interface AdvantageBatch {
  advantages: number[][];
  /** Value targets (PPO). */
  returns?: number[][];
  /** Estimator statistics to log, e.g. `frac_reward_zero_std`. */
  metrics: Record<string, number>;
}

/** A sample completion shown in logs and the report. */
export interface SampleLog {
  prompt: string;
  completion: string;
  reward: number;
  rewards: Record<string, number | null>;
  advantage: number;
  /** The dataset row's reference answer (its `answer` field, when that is a string). */
  reference?: string;
}

/** What one training step reports to hooks and sinks. */
export interface StepSummary {
  step: number;
  metrics: Record<string, number>;
  samples: SampleLog[];
}

/** Everything needed to resume a run exactly. */
export interface TrainerState {
  step: number;
  /** Serialised RNG state of the trainer's data order and sampling seeds. */
  rng: string;
  /** Position in the shuffled prompt stream. */
  dataCursor: number;
}
