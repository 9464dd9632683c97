import type { DatasetRow, FinishReason, TrajectoryTurn } from '../records.js';

/** What a reward function sees: one entry per completion, aligned by index. */
export interface RewardInput<Row extends DatasetRow = DatasetRow> {
  prompts: readonly string[];
  completions: readonly string[];
  completionIds: readonly (readonly number[])[];
  finishReasons: readonly FinishReason[];
  /** Every dataset field of the prompt each completion answers (e.g. the reference answer). */
  rows: readonly Row[];
  /**
   * Multi-turn rollouts (an `Environment`): each completion's turns, with the environment's
   * observations and rewards; `completions` is then the whole trajectory's text. Absent otherwise.
   */
  turns?: readonly (readonly TrajectoryTurn[] | undefined)[];
  /**
   * Fires when this call is abandoned: at `rewards.timeoutMs`, when the call fails, or when the
   * step stops because another reward failed. An async reward passes it on to what it waits for
   * (`fetch(url, { signal })`, a child process, a timer), so a timed-out call stops instead of
   * running on in the background and keeping the process alive. The trainer always sets it;
   * absent only when a reward is called directly.
   *
   * A synchronous reward cannot be interrupted in the trainer's thread: it runs to the end, and a
   * result that came later than the timeout is treated as a timeout. Run rewards that may never
   * return with `workerReward`, which enforces the timeout by stopping its worker thread.
   */
  signal?: AbortSignal;
}

/** A reward for one step of a solution, for process supervision. `endChar` is an offset into the completion text. */
export interface StepReward {
  endChar: number;
  reward: number;
}

/**
 * One completion's score: a number, `null` when the function does not apply to this sample,
 * or an object carrying per-step rewards (process supervision) and extra values to log.
 */
export type RewardScore = number | null | { score: number | null; steps?: readonly StepReward[]; info?: Readonly<Record<string, number>> };

export const RewardFunction = Symbol.for('grpo.RewardFunction');
/** A named scorer of completions. Many can be bound; the trainer weights and sums them. */
export interface RewardFunction<Row extends DatasetRow = DatasetRow> {
  readonly name: string;
  score(input: RewardInput<Row>): readonly RewardScore[] | Promise<readonly RewardScore[]>;
}

/** A labelled example for training a reward model. */
export type RewardExample =
  | { kind: 'outcome'; prompt: string; completion: string; label: number }
  | { kind: 'process'; prompt: string; completion: string; steps: readonly StepReward[] }
  | { kind: 'preference'; prompt: string; chosen: string; rejected: string };

export const RewardModel = Symbol.for('grpo.RewardModel');
/** A trainable reward function (ORM, PRM or Bradley–Terry). */
export interface RewardModel<Row extends DatasetRow = DatasetRow> extends RewardFunction<Row> {
  train(examples: readonly RewardExample[], options?: { epochs?: number }): Promise<Record<string, number>>;
  save(dir: string): Promise<void>;
  dispose(): void;
}

export const AnswerExtractor = Symbol.for('grpo.AnswerExtractor');
/** Pulls the final answer out of a completion (e.g. the number after `####`), for majority voting (maj@k). */
export interface AnswerExtractor<Row extends DatasetRow = DatasetRow> {
  readonly name: string;
  /** A canonical answer string, or null when the completion states none. */
  extract(completion: string, row: Row): string | null;
}
