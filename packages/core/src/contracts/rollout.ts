import type { Completion, ScoredGroup } from '../records.js';
import type { Policy, SamplingOptions, TurnSession } from './policy.js';

/** A prompt ready for generation: its rendered text and the exact token ids the policy conditions on. */
export interface GenerationRequest {
  readonly text: string;
  readonly ids: readonly number[];
  /**
   * The ids continue a multi-turn trajectory (the prompt, the model's turns and the environment's
   * tokens, exactly as they were): they are not `encodePrompt(text)`, and an engine must condition
   * on them, not on `text` re-encoded.
   */
  readonly continued?: boolean;
}

/** What `RolloutEngine.syncWeights` is given besides the policy. */
export interface SyncOptions {
  /** Aborted when `generation.syncTimeoutSeconds` pass; the engine should stop waiting then. */
  readonly signal: AbortSignal;
}

/**
 * A generation the trainer will ask for in a later step, announced ahead to an asynchronous engine
 * (`RolloutEngine.lookahead`): the step's first generation exactly as `generate` will get it.
 */
export interface PlannedGeneration {
  /** The training step that will ask for it. */
  readonly step: number;
  /** Its prompts, rendered and encoded as the rollout stage will give them. */
  readonly requests: readonly GenerationRequest[];
  /** Completions per prompt (`train.groupSize`). */
  readonly groupSize: number;
  /** With the seed the step will sample with. */
  readonly options: SamplingOptions;
}

/** An engine's answer to `health()`. */
export interface EngineHealth {
  readonly ok: boolean;
  /** What is wrong (or what the engine serves), in words, e.g. `HTTP 503 from http://127.0.0.1:8000/health`. */
  readonly detail?: string;
}

export const RolloutEngine = Symbol.for('grpo.RolloutEngine');
/**
 * Samples G completions per prompt for the rollout stage. The policy's own in-process sampler is
 * the engine named `policy` (bound by core); others (llama.cpp, an OpenAI-compatible server) are
 * chosen with `generation.engine`. An engine gets the exact prompt ids (token in, token out, never
 * re-tokenised) and returns each completion's token ids, the per-token log-probs under the
 * distribution it sampled from (`Completion.logprobs`; `rawLogprobs` too when it can), and why it
 * stopped. Its log-probs are its own numbers: the trainer compares them with its π_old
 * (`mismatch/*` figures) and corrects for the difference (`generation.correction`).
 */
export interface RolloutEngine {
  readonly name: string;
  /**
   * True when the engine's numbers are the trainer's own (the in-process sampler): the off-policy
   * correction is then off unless `generation.correction.enabled` says `on`.
   */
  readonly trainerSampler?: boolean;
  /**
   * Asynchronous engines: how many steps ahead they may sample (0 or absent: none, the
   * synchronous path). Before each step's rollout the trainer announces the first generation of
   * each of the next `lookahead` steps (`plan`, not past `train.steps`), so the engine samples them
   * while the trainer scores and updates; a later `generate` with the same requests and options
   * takes the planned result. Such results come from an older policy: the engine is then not
   * `trainerSampler`, and the trainer corrects for the difference (`generation.correction`).
   */
  readonly lookahead?: number;
  /** Steps `step + 1 … step + lookahead` (fewer at the end of the run), in order; already planned ones come again. */
  plan?(generations: readonly PlannedGeneration[]): Promise<void>;
  /** Figures of the generations since the last call (e.g. staleness), merged into the step's metrics after its rollouts. */
  stepMetrics?(): Record<string, number>;
  /** `groupSize` completions per request, `[request][g]`, each of at most `options.maxNewTokens` tokens. */
  generate(requests: readonly GenerationRequest[], groupSize: number, options: SamplingOptions): Promise<Completion[][]>;
  /**
   * Optional: a multi-turn session that keeps each trajectory's KV cache between turns (see
   * `TurnSession`). Multi-turn rollouts use it when the engine has it; without it every turn
   * re-prefills the trajectory through `generate` (`continued` requests).
   */
  openTurns?(): TurnSession;
  /**
   * Brings the engine's weights up to the policy's (full weights, or a LoRA adapter the engine
   * loads). Called before the first rollout and after each update; core bounds it with
   * `generation.syncTimeoutSeconds` and fails the run with an `EngineError` naming the engine
   * when it runs over. The in-process engine needs none.
   */
  syncWeights?(policy: Policy, options: SyncOptions): Promise<void>;
  /** Whether the engine can serve now (checked before training starts). */
  health?(): Promise<EngineHealth>;
  /** Frees what the engine holds (model memory, connections); called when the run ends. */
  close?(): Promise<void>;
}

export const RolloutFilter = Symbol.for('grpo.RolloutFilter');
/**
 * Decides which scored groups a step trains on (DAPO's dynamic sampling keeps only groups whose
 * rewards differ). Filters run by `order` (then binding order). While fewer than
 * `train.promptsPerStep` groups are kept, the rollout stage samples more prompts, for at most the
 * largest `refillRounds` of the bound filters. Logs `<name>/rounds` and `<name>/kept_groups`.
 */
export interface RolloutFilter {
  readonly name: string;
  /** Lower runs first; default 0. */
  readonly order?: number;
  /** Extra generation rounds this filter may ask for to refill the batch; default 0. */
  readonly refillRounds?: number;
  keep(group: ScoredGroup): boolean;
}

/** What a reward shaper may need to know about the run. */
export interface ShapingContext {
  /** `generation.maxNewTokens`: the completion length limit. */
  readonly maxNewTokens: number;
}

export const RewardShaper = Symbol.for('grpo.RewardShaper');
/**
 * Changes the kept groups before advantages are estimated: DAPO's overlong penalty, leaving
 * truncated completions out of the loss (`ScoredGroup.masked`). Shapers run by `order` (then
 * binding order) and return new groups; records are never changed in place.
 */
export interface RewardShaper {
  readonly name: string;
  /** Lower runs first; default 0. */
  readonly order?: number;
  shape(groups: readonly ScoredGroup[], context: ShapingContext): { groups: ScoredGroup[]; metrics?: Record<string, number> };
}
