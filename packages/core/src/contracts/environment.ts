import type { DatasetRow } from '../records.js';

/** What an environment knows about the episode it is called for. */
export interface EnvironmentContext<Row extends DatasetRow = DatasetRow> {
  /** The dataset row the episode answers. */
  readonly row: Row;
  /** The sample's index among the call's samples (prompt-major: prompt i, sample g → i·G + g); errors name it. */
  readonly sample: number;
  /** Model turns finished so far: 0 in `reset`, 1 after the first completion, … */
  readonly turn: number;
  /**
   * The episode's own object, the same from `reset` through every `step` of this sample and new
   * for the next one: an environment that keeps state (a game board, a sandbox handle) keeps it
   * here, so one environment serves many episodes at once.
   */
  readonly state: Record<string, unknown>;
  /** Fires when the call times out (`generation.environment.timeoutMs`) or the rollout stops; pass it on to what you wait for. */
  readonly signal: AbortSignal;
}

/** An environment's answer to one model turn. */
export interface EnvironmentStep {
  /** Text appended after the model's turn (as the environment's tokens, mask 0) before the model continues; ignored when `done`. */
  readonly observation?: string;
  /** This turn's reward; a trajectory's rewards sum into the reward named after the environment. */
  readonly reward?: number;
  /** The episode ends: no observation is appended and the model is not called again. */
  readonly done: boolean;
  /** Counts to log, averaged per trajectory over a step (summed over its turns first), e.g. `tools/calls`. */
  readonly metrics?: Readonly<Record<string, number>>;
}

export const Environment = Symbol.for('grpo.Environment');
/**
 * A multi-turn environment (a contribution point): the model writes a turn, the environment
 * answers with an observation that is appended to the trajectory as tokens the model did not
 * sample (loss mask 0), and the model continues — until the environment is done, the model ends
 * with EOS, `generation.environment.maxTurns` turns or `maxTokens` tokens. The run uses the one
 * `generation.environment.name` names, or the only one bound. Every call may be async; it runs
 * under `generation.environment.timeoutMs` and the reward fault policy (`rewards.onError`): with
 * `raise` a throw, a timeout or a malformed answer stops the step with an `EnvironmentError`
 * naming the environment and the sample; with `penalty` that trajectory ends there and the
 * environment's reward for it is `rewards.penalty`. At start-up the trainer runs `reset` and one
 * `step('')` on the first training row, so a broken environment fails before the first step.
 *
 * Call `step` with the model's text for the turn (cut after the stop string that ended it); the
 * trajectory keeps the exact token ids the model sampled and the exact tokens of the encoded
 * observations (token in, token out), never a re-tokenised transcript.
 */
export interface Environment<Row extends DatasetRow = DatasetRow> {
  readonly name: string;
  /** Stop strings that end a model turn (e.g. `>>` after a tool call), added to `generation.stop`. */
  readonly stop?: readonly string[];
  /**
   * Chat template variables for rendering prompts, under `data.chat.variables` (which wins on a
   * clash): e.g. a chat tool environment's `tools`, which the template writes into the system prompt.
   */
  readonly chatVariables?: Readonly<Record<string, unknown>>;
  /** Starts an episode for one sample; returns the first observation, appended after the prompt (environment tokens), or nothing. */
  reset(row: Row, context: EnvironmentContext<Row>): string | undefined | Promise<string | undefined>;
  /** Answers the model's turn `completion`. */
  step(completion: string, context: EnvironmentContext<Row>): EnvironmentStep | Promise<EnvironmentStep>;
}
