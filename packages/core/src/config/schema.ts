import { z } from 'zod';
import { fraction, int, nonNegative, num, positive } from './zod-helpers.js';

/** A plugin object as a config gives it (checked in full, `pluginShapeProblem`, when the config resolves). */
export interface PluginObjectInput {
  readonly meta: { readonly name: string; readonly version: string; readonly core: string };
}

/** An entry of `plugins`: a plugin object, a package name, `[name, options]`, a falsy entry or a preset (a nested list). */
export type PluginEntryInput = PluginObjectInput | string | readonly [string, Record<string, unknown>] | false | null | undefined | readonly PluginEntryInput[];

const isPlugin = (v: unknown): v is PluginObjectInput =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as { meta?: { name?: unknown } }).meta?.name === 'string';

/** In JS/TS configs a plugin object; in JSON/YAML a package name or `[name, options]`. */
export const pluginEntrySchema: z.ZodType<PluginEntryInput> = z.lazy(() =>
  z.union(
    [
      z.string().min(1),
      z.tuple([z.string().min(1), z.record(z.string(), z.unknown())]),
      z.custom<PluginObjectInput>(isPlugin),
      z.literal(false),
      z.null(),
      z.undefined(),
      z.array(pluginEntrySchema),
    ],
    { error: () => 'expected a plugin object, a package name, [packageName, options], false/null, or an array of these' },
  ),
) as never;

/**
 * The sections core owns: the run, data, generation, training, rewards and evaluation. Plugins
 * add their own (the transformer's `policy.model`, the GRPO plugin's `algorithm`, …) through
 * `GrpoPlugin.config`; `configSchemaFor(plugins)` merges them into one schema.
 */
export const coreConfigSchema = z.strictObject({
  plugins: z
    .array(pluginEntrySchema)
    .default([])
    .describe(
      'Plugins loaded after the defaults, in order. In TS/JS configs plugin objects (falsy entries are skipped, nested arrays are presets); in JSON/YAML package names or [name, options].',
    ),
  backend: z
    .string()
    .min(1)
    .default('native')
    .describe(
      'Tensor backend: `native` (default: OpenBLAS, multi-threaded; runs on `wasm` with a one-line message when its addon is not built), `wasm` (bit-reproducible anywhere), `cpu`, `tfjs-node` or `tfjs-node-gpu`; see docs/backends.md.',
    ),
  seed: int(0).default(0).describe('Seed of data order, sampling and fresh weights; the same seed and config give the same run.'),
  outputDir: z.string().min(1).default('runs/latest').describe('Run directory: metrics.jsonl, samples.jsonl, checkpoints/, report.html.'),
  policy: z
    .strictObject({
      checkpoint: z.string().min(1).optional().describe('Checkpoint directory the policy factory loads (relative to the config file).'),
    })
    .prefault({})
    .describe('Where the policy comes from; policy plugins add their own keys (e.g. `model`).'),
  data: z
    .strictObject({
      train: z
        .string()
        .min(1)
        .optional()
        .describe('JSONL file of training rows (relative to the config file); not needed when a plugin binds a PromptDataset.'),
      eval: z.string().min(1).optional().describe('JSONL file of held-out rows for evaluation.'),
      promptField: z.string().min(1).default('prompt').describe('Field of each row that holds the prompt (e.g. `question` for GSM8K).'),
      promptTemplate: z.string().default('{prompt}').describe('Template with `{prompt}` (and any other `{field}`) placeholders.'),
      evalSize: int(1).optional().describe('Evaluate on at most this many rows of the evaluation set.'),
      chat: z
        .strictObject({
          prompts: z
            .boolean()
            .default(false)
            .describe(
              "Send each row's prompt (after `promptTemplate`) as a user message through the policy's chat template, so that a chat model is asked in its own format.",
            ),
          system: z.string().optional().describe('A system message before that user message (rows with `messages` bring their own).'),
          variables: z
            .record(z.string(), z.unknown())
            .default({})
            .describe("Further chat template variables, e.g. `{ enable_thinking: false }` for Qwen3's template."),
        })
        .prefault({})
        .describe("Chat templates: rows with `messages` are always rendered with the policy's chat template (`tokenizer_config.json`'s `chat_template`)."),
    })
    .prefault({}),
  generation: z
    .strictObject({
      engine: z.string().min(1).default('policy').describe('Rollout engine by name; `policy` samples in process with the policy itself.'),
      maxNewTokens: int(1).default(64).describe('Longest completion, in tokens; longer ones stop with finish reason `length`.'),
      temperature: nonNegative().default(1).describe('Sampling temperature of rollouts; 0 is greedy (every completion of a group then alike).'),
      topK: int(0).default(0).describe('Sample among the k most likely tokens; 0 turns it off.'),
      topP: fraction().default(1).describe('Nucleus sampling mass; 1 turns it off.'),
      stop: z.array(z.string().min(1)).default([]).describe('Stop strings; a completion ends after the first one it produces.'),
      syncTimeoutSeconds: positive()
        .default(600)
        .describe("Longest a rollout engine's weight sync may take before the run fails naming the engine (EngineError)."),
      correction: z
        .strictObject({
          enabled: z
            .enum(['auto', 'on', 'off'])
            .default('auto')
            .describe(
              "Truncated importance sampling between the engine's and the trainer's log-probs; `auto` is on for every engine but the in-process `policy`.",
            ),
          mode: z
            .enum(['token_truncate', 'token_mask', 'sequence_truncate', 'sequence_mask'])
            .default('token_truncate')
            .describe("TRL's modes: clamp (`*_truncate`) or zero (`*_mask`) the ratio π_trainer/π_engine per token or per sequence (docs/engines.md)."),
          clipMax: positive().default(3).describe('Upper bound of the importance ratio (TRL `vllm_importance_sampling_clip_max`).'),
          clipMin: nonNegative().optional().describe('Lower bound of the importance ratio; none by default.'),
        })
        .prefault({})
        .describe("Off-policy correction for engines whose numbers differ from the trainer's (llama.cpp, vLLM)."),
      environment: z
        .strictObject({
          name: z
            .string()
            .min(1)
            .optional()
            .describe('Multi-turn environment by name; unset: the only one a plugin binds, or none (single-turn rollouts) when none is bound.'),
          maxTurns: int(1).default(8).describe('Model turns per trajectory at most; each turn is at most generation.maxNewTokens tokens.'),
          maxTokens: int(1)
            .optional()
            .describe("Tokens per trajectory at most, the model's and the environment's together; defaults to maxTurns × generation.maxNewTokens."),
          timeoutMs: int(1).default(10_000).describe('Per call of the environment (reset or step); the fault policy is rewards.onError.'),
        })
        .prefault({}),
    })
    .prefault({}),
  train: z
    .strictObject({
      steps: int(1).default(100).describe('Training steps (each samples promptsPerStep × groupSize completions).'),
      promptsPerStep: int(1).default(16).describe('Prompts sampled per step (B).'),
      groupSize: int(2).default(8).describe('Completions per prompt (G), the group the advantages are relative to.'),
      numIterations: int(1).default(1).describe('μ: policy updates per batch of samples. With 1, the loss value is about 0 (docs/faq.md).'),
      miniBatchSize: int(1).optional().describe('Sequences per optimizer step; must divide promptsPerStep × groupSize. Defaults to the whole batch.'),
      microBatchSize: int(1)
        .optional()
        .describe('Sequences per forward/backward pass (exact gradient accumulation); must divide miniBatchSize. Defaults to min(miniBatchSize, 32).'),
      learningRate: positive().default(1e-4).describe('Peak learning rate of AdamW.'),
      lrSchedule: z
        .enum(['constant', 'linear', 'cosine'])
        .default('constant')
        .describe('Learning rate after warm-up: constant, or a linear or cosine decay to minLrRatio × learningRate.'),
      warmupSteps: int(0).default(0).describe('Linear warm-up steps from 0 to learningRate.'),
      minLrRatio: fraction().default(0).describe('Final learning rate of the linear/cosine schedules, as a share of learningRate.'),
      weightDecay: nonNegative().default(0).describe('Decoupled weight decay (AdamW).'),
      adamBeta1: fraction().default(0.9).describe('AdamW β1.'),
      adamBeta2: fraction().default(0.999).describe('AdamW β2.'),
      adamEps: positive().default(1e-8).describe('AdamW epsilon.'),
      maxGradNorm: nonNegative('a number ≥ 0 (0 turns clipping off)').default(1).describe('Clip gradients to this global norm; 0 turns clipping off.'),
      onNonFinite: z
        .enum(['stop', 'skip'])
        .default('stop')
        .describe(
          'A NaN or ±Infinity loss, gradient norm, log-prob (π_θ, π_old, π_ref) or KL: `stop` ends the run with an error naming the step; `skip` drops that update and goes on (metric `train/skipped_nonfinite`). Neither applies a non-finite gradient.',
        ),
      checkpointEvery: int(0).default(0).describe('Save a checkpoint every N steps (and always at the end); 0 = only at the end.'),
      evalEvery: int(0).default(0).describe('Evaluate every N steps; 0 = never during training.'),
      logSamplesEvery: int(0).default(10).describe('Write sample completions to samples.jsonl every N steps; 0 = never.'),
    })
    .prefault({}),
  eval: z
    .strictObject({
      accuracyReward: z
        .string()
        .min(1)
        .optional()
        .describe('Reward whose score 1 means correct (greedy accuracy, pass@k, maj@k); default: the first reward named like `*accuracy*`.'),
      k: int(0).default(8).describe('Samples per prompt for pass@k and maj@k; 0 skips them.'),
      temperature: positive().default(1).describe('Sampling temperature for pass@k and maj@k.'),
      before: z
        .boolean()
        .default(true)
        .describe('`grpo train`: evaluate the starting policy first (an unchanged starting checkpoint reuses its cached figures); `--no-eval` turns off both.'),
      after: z.boolean().default(true).describe('`grpo train`: evaluate the trained policy after the last step.'),
    })
    .prefault({}),
  rewards: z
    .strictObject({
      weights: z
        .record(z.string(), num('a number'))
        .default({})
        .describe('Weight per reward function name; unnamed functions weigh 1. The reward is the weighted sum.'),
      timeoutMs: int(1).default(30_000).describe('Per-call timeout of a reward function on a batch.'),
      onError: z
        .enum(['raise', 'penalty'])
        .default('raise')
        .describe('`raise` stops the step naming the reward and sample; `penalty` scores it `penalty` and counts it.'),
      penalty: num('a number').default(0).describe('Score given to a sample whose reward threw, timed out or was not finite, with onError: penalty.'),
    })
    .prefault({}),
});

/** A config section a plugin owns: its input (what users write) and output (validated, defaults filled) types. */
export interface Section<S extends z.ZodType> {
  input: z.input<S>;
  output: z.output<S>;
}

/**
 * Top-level config sections contributed by plugins. A plugin that owns one augments this
 * interface so that `defineConfig` and `ResolvedConfig` know its type:
 *
 * ```ts
 * declare module '@grpo/core' {
 *   interface ConfigSections { algorithm: Section<typeof algorithmSchema> }
 * }
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by plugins' module augmentation
export interface ConfigSections {}

/** Keys under `policy` contributed by policy plugins (e.g. the transformer's `model`); augmented like `ConfigSections`. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by plugins' module augmentation
export interface PolicySections {}

type InputOf<T> = { [K in keyof T]?: T[K] extends { input: infer I } ? I : never };
/** The validated types of the sections in `T` (`ConfigSections`, `PolicySections`). */
export type SectionsOutput<T> = { [K in keyof T]: T[K] extends { output: infer O } ? O : never };

type CoreInput = z.input<typeof coreConfigSchema>;
/** Core's own sections, validated, defaults filled in. */
export type CoreConfig = z.output<typeof coreConfigSchema>;

/** What users write: every field optional, plugin sections included. */
export type GrpoConfigInput = Omit<CoreInput, 'policy'> & InputOf<ConfigSections> & { policy?: NonNullable<CoreInput['policy']> & InputOf<PolicySections> };
