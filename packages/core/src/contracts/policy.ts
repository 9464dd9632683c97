import type * as tf from '@tensorflow/tfjs';
import type { Completion, TokenBatch } from '../records.js';
import type { ResolvedConfig } from '../plugin/types.js';
import type { Tokenizer } from './tokenizer.js';

export interface SamplingOptions {
  maxNewTokens: number;
  /** 0 means greedy. */
  temperature: number;
  topK?: number;
  topP?: number;
  /** Per-sequence stop strings; the completion ends after the first one it produces. */
  stop?: readonly string[];
  /** Seed for this call; the same seed and inputs give the same completions. */
  seed?: number;
}

/**
 * Per-token log-probabilities of completion tokens, `[B, Lmax]` where Lmax is the longest completion
 * in the batch; zero where a completion is padded. A completion's token ids include its final EOS
 * token when it stopped on EOS, so the policy learns to stop.
 */
export interface TokenLogProbs {
  logprobs: tf.Tensor2D;
  /** Entropy of the full next-token distribution at each completion position, when asked for. */
  entropy?: tf.Tensor2D;
}

/** A completion of `Policy.generateFromIds`: `text` is null when the policy has no tokenizer to decode with. */
export type IdCompletion = Omit<Completion, 'text'> & { text: string | null };

/** One trajectory's next turn, for `TurnSession.generate`. */
export interface TurnRequest {
  /** Which trajectory: the same key on every call of a session (a trajectory's cache is found by it). */
  readonly key: number;
  /** The trajectory's exact ids so far (prompt, the model's turns, the environment's tokens); usually the previous call's ids extended. */
  readonly ids: readonly number[];
}

/**
 * A multi-turn sampling session that keeps each trajectory's KV cache from one turn to the next:
 * a turn prefills only the tokens its trajectory gained since the last call (the sampled turn's
 * last token and the environment's observation) on top of that cache, instead of the whole
 * prefix. A trajectory whose ids do not extend what the session has cached for its key is
 * prefilled from scratch; trajectories left out of a call are forgotten. The completions are
 * those `generateFromIds(turns.map((t) => t.ids), 1, options)` samples (same seeds, same
 * tokens), up to float rounding in the log-probs.
 */
export interface TurnSession {
  /** One completion per request, in order, of at most `options.maxNewTokens` tokens each. */
  generate(turns: readonly TurnRequest[], options: SamplingOptions): Promise<IdCompletion[]>;
  /** Frees the cache. */
  dispose(): void;
}

/** Something that scores token sequences: the trainable policy and its frozen snapshots (π_old, π_ref). */
export interface LogProbModel {
  /**
   * Differentiable per-token log-probs of each completion given its prompt. Call inside
   * `tf.tidy` / `variableGrads`; the caller owns the returned tensors.
   */
  tokenLogProbs(batch: TokenBatch, options?: { entropy?: boolean }): TokenLogProbs;
}

export const Policy = Symbol.for('grpo.Policy');
/** The language model GRPO trains. */
export interface Policy extends LogProbModel {
  readonly tokenizer: Tokenizer;
  /**
   * The longest prompt + completion the model takes, in tokens, when it has such a limit: datasets
   * are checked against it when they load, so an overlong prompt is reported with its file and
   * line instead of failing when it is drawn.
   */
  readonly maxSeqLen?: number;
  /** The exact prompt token ids `generate` conditions on (e.g. BOS + encoded text); `tokenLogProbs` takes them back. */
  encodePrompt(prompt: string): number[];
  /** `groupSize` completions for every prompt, sampled with a shared prompt prefill; `[prompt][g]`. */
  generate(prompts: readonly string[], groupSize: number, options: SamplingOptions): Promise<Completion[][]>;
  /**
   * Optional capability: `generate` for prompts given as token ids, used as they are (nothing
   * encoded, no BOS added). Training never needs it; it exists so that a model can be run and
   * checked without its tokenizer — a pretrained model whose tokenizer is missing, or reference
   * outputs given as ids (`grpo sample --ids`). `text` is null when the policy cannot decode.
   */
  generateFromIds?(prompts: readonly (readonly number[])[], groupSize: number, options: SamplingOptions): Promise<IdCompletion[][]>;
  /** Optional capability: a multi-turn session that carries the KV cache across turns (multi-turn rollouts use it when present). */
  openTurns?(): TurnSession;
  trainableVariables(): tf.Variable[];
  /** A frozen copy of the current weights (π_old, π_ref); disposing it frees its weights. */
  snapshot(): FrozenPolicy;
  /**
   * Optional capability: the reference policy π_ref when the policy has a cheaper one than
   * `snapshot()` — a policy that trains adapters gives its frozen base with the adapters switched
   * off, sharing the base weights instead of copying them. The trainer uses it when present.
   */
  referencePolicy?(): FrozenPolicy;
  /** Writes weights, config and tokenizer atomically into `dir`. */
  save(dir: string): Promise<void>;
  /** Replaces this policy's weights with a checkpoint's (validated: same architecture and tokenizer). */
  load(dir: string): Promise<void>;
  /**
   * Optional capability of a policy that trains adapters on a frozen base (LoRA): only the
   * adapters change from one update to the next, so rollout engines and workers are sent them
   * instead of the whole model. `saveAdapter` writes the adapters alone into `dir` (for LoRA,
   * PEFT's `adapter_config.json` and `adapter_model.safetensors`, what vLLM's
   * `/v1/load_lora_adapter` reads); a policy that trains all its weights has neither method.
   */
  saveAdapter?(dir: string): Promise<void>;
  /** Optional capability, with `saveAdapter`: replaces the adapters with ones `saveAdapter` wrote (same setup); the base stays. */
  loadAdapter?(dir: string): Promise<void>;
  dispose(): void;
}

/** A frozen copy of a policy's weights. */
export interface FrozenPolicy extends LogProbModel {
  /** Overwrites these weights with `source`'s, or mixes them: `alpha·source + (1 − alpha)·this` (TR-DPO). */
  syncFrom(source: Policy, alpha?: number): void;
  /** Writes these weights (same layout as `Policy.save`) so a resumed run restores π_ref exactly. */
  save(dir: string): Promise<void>;
  /** Replaces these weights with a checkpoint's. */
  load(dir: string): Promise<void>;
  dispose(): void;
}

/** What a policy factory is asked to build. */
export interface PolicyRequest {
  readonly config: ResolvedConfig;
  /** `policy.checkpoint`, resolved against the config file's directory. */
  readonly checkpoint?: string;
  /** The tokenizer a plugin bound (e.g. `@grpo/plugin-tokenizers`), for a policy built from scratch. */
  readonly tokenizer?: Tokenizer;
}

export const PolicyFactory = Symbol.for('grpo.PolicyFactory');
/**
 * Builds the run's policy: from a checkpoint, or fresh weights from the config. Loading is
 * async, so the container holds factories, not a policy; the last bound factory is used.
 */
export interface PolicyFactory {
  readonly name: string;
  create(request: PolicyRequest): Promise<Policy>;
  /**
   * The files and directories (absolute paths) `create` reads for this request besides
   * `request.checkpoint` (e.g. a Hugging Face model directory a config key names), so that what
   * is cached from a policy (`grpo train`'s "before" evaluation) is keyed on their contents.
   */
  sources?(request: Omit<PolicyRequest, 'tokenizer'>): readonly string[];
}
