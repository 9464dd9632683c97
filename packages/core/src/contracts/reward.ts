import type { DatasetRow, FinishReason, Rollout, TrajectoryTurn } from '../records.js';

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

/** One completion's score after validation: a finite number or null, with valid steps. */
export interface ValidatedScore {
  score: number | null;
  steps?: readonly StepReward[];
  info?: Readonly<Record<string, number>>;
}

/** One reward function's validated scores for a batch, in completion order, and how many samples failed (scored the penalty). */
export interface RewardResult {
  scores: ValidatedScore[];
  errors: number;
}

/** What a reward scorer runs: every reward function on every completion of the rollouts, under the fault policy. */
export interface ScoringRequest {
  readonly rollouts: readonly Rollout[];
  readonly functions: readonly RewardFunction[];
  /** Per-call timeout and fault policy (`rewards.*`); `signal` fires when the step stops. */
  readonly options: {
    readonly timeoutMs: number;
    readonly onError: 'raise' | 'penalty';
    readonly penalty: number;
    readonly signal?: AbortSignal;
  };
  /** The training step and the collect round within it (refills of dynamic sampling): with the group index, a stable name for each piece of work. */
  readonly step: number;
  readonly round: number;
}

export const RewardScorer = Symbol.for('grpo.RewardScorer');
/**
 * Where the score stage runs the reward functions. Without one bound, they run in the trainer's
 * process (`scoreWith` per function, concurrently); a plugin binds one to run them elsewhere (the
 * workers plugin: on reward workers through a Redis queue). The last bound is used. A scorer only
 * runs and validates; the stage weights, sums and logs the results the same way for every scorer,
 * so a scorer that returns the same results gives the same step.
 */
export interface RewardScorer {
  readonly name: string;
  /**
   * One result per function, in `functions` order, each with one validated score per completion
   * (groups in order, completions in order). A fault under `raise` rejects with a `RewardError`
   * naming the reward and the sample; under `penalty` the sample scores `penalty` and counts in `errors`.
   */
  score(request: ScoringRequest): Promise<RewardResult[]>;
}
