import type { Completion, ScoredGroup } from '../records.js';
import type { Policy, SamplingOptions } from './policy.js';

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

export const RolloutEngine = Symbol.for('grpo.RolloutEngine');
/**
 * Samples G completions per prompt for the rollout stage. The policy's own in-process sampler is
 * the engine named `policy` (bound by core); others (llama.cpp, an OpenAI-compatible server) are
 * chosen with `generation.engine`. An engine gets the exact prompt ids (token in, token out) and
 * returns each completion's token ids, the per-token log-probs under the distribution it sampled
 * from, and why it stopped.
 */
export interface RolloutEngine {
  readonly name: string;
  /** `groupSize` completions per request, `[request][g]`. */
  generate(requests: readonly GenerationRequest[], groupSize: number, options: SamplingOptions): Promise<Completion[][]>;
  /** Brings the engine's weights up to date after an update; the in-process engine needs none. */
  syncWeights?(policy: Policy): Promise<void>;
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
