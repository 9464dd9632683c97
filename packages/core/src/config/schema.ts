import { z } from 'zod';
import type { GrpoPlugin, PluginEntry } from '../plugin/types.js';

const int = (min: number, what = `an integer ≥ ${min}`) =>
  z.int({ error: (i) => `expected ${what}, got ${JSON.stringify(i.input)}` }).min(min, { error: (i) => `expected ${what}, got ${JSON.stringify(i.input)}` });
const num = (what: string) => z.number({ error: (i) => `expected ${what}, got ${JSON.stringify(i.input)}` });
const positive = (what = 'a number > 0') => num(what).positive({ error: (i) => `expected ${what}, got ${JSON.stringify(i.input)}` });
const fraction = (what = 'a number in [0, 1]') =>
  num(what).min(0, { error: (i) => `expected ${what}, got ${JSON.stringify(i.input)}` }).max(1, { error: (i) => `expected ${what}, got ${JSON.stringify(i.input)}` });
const nonNegative = (what = 'a number ≥ 0') => num(what).min(0, { error: (i) => `expected ${what}, got ${JSON.stringify(i.input)}` });

const isPlugin = (v: unknown): v is GrpoPlugin =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as { meta?: { name?: unknown } }).meta?.name === 'string';

/** In JS/TS configs a plugin object; in JSON/YAML a package name or `[name, options]`. */
const pluginEntry: z.ZodType<PluginEntry | string | [string, Record<string, unknown>]> = z.lazy(() =>
  z.union(
    [
      z.string().min(1),
      z.tuple([z.string().min(1), z.record(z.string(), z.unknown())]),
      z.custom<GrpoPlugin>(isPlugin),
      z.literal(false),
      z.null(),
      z.undefined(),
      z.array(pluginEntry),
    ],
    {
      error: () =>
        'expected a plugin object, a package name, [packageName, options], false/null, or an array of these',
    },
  ),
) as never;

export const modelSchema = z.strictObject({
  vocabSize: int(2).optional(),
  dModel: int(1).default(128),
  nLayers: int(1).default(4),
  nHeads: int(1).default(4),
  /** Grouped-query attention: key/value heads; must divide nHeads. Defaults to nHeads. */
  nKvHeads: int(1).optional(),
  /** SwiGLU hidden size; defaults to about 8/3·dModel rounded to 8. */
  ffnDim: int(1).optional(),
  maxSeqLen: int(2).default(128),
  ropeBase: positive().default(10000),
  normEps: positive().default(1e-5),
  tiedEmbeddings: z.boolean().default(true),
});

export const configSchema = z.strictObject({
  plugins: z.array(pluginEntry).default([]),
  /** Backend plugin to use: `wasm` (default), `cpu`, `tfjs-node`, `tfjs-node-gpu`. */
  backend: z.string().min(1).default('wasm'),
  seed: int(0).default(0),
  outputDir: z.string().min(1).default('runs/latest'),
  policy: z
    .strictObject({
      /** Checkpoint directory to start from. */
      checkpoint: z.string().min(1).optional(),
      /** Architecture when starting from scratch. */
      model: modelSchema.optional(),
    })
    .prefault({}),
  data: z
    .strictObject({
      /** JSONL file or a dataset name that a plugin registers. */
      train: z.string().min(1).optional(),
      eval: z.string().min(1).optional(),
      /** Field of each row that holds the prompt (e.g. `question` for GSM8K). */
      promptField: z.string().min(1).default('prompt'),
      /** Template with `{prompt}` (and any other `{field}`) placeholders. */
      promptTemplate: z.string().default('{prompt}'),
      evalSize: int(1).optional(),
    })
    .prefault({}),
  generation: z
    .strictObject({
      maxNewTokens: int(1).default(64),
      temperature: nonNegative().default(1),
      topK: int(0).default(0),
      topP: fraction().default(1),
      stop: z.array(z.string().min(1)).default([]),
    })
    .prefault({}),
  train: z
    .strictObject({
      steps: int(1).default(100),
      promptsPerStep: int(1).default(16),
      groupSize: int(2).default(8),
      /** μ: policy updates per batch of samples. */
      numIterations: int(1).default(1),
      /** Sequences per optimizer step; defaults to the whole batch (promptsPerStep × groupSize). */
      miniBatchSize: int(1).optional(),
      /** Sequences per forward/backward pass (gradient accumulation, exact); defaults to min(miniBatchSize, 32). */
      microBatchSize: int(1).optional(),
      learningRate: positive().default(1e-4),
      lrSchedule: z.enum(['constant', 'linear', 'cosine']).default('constant'),
      warmupSteps: int(0).default(0),
      minLrRatio: fraction().default(0),
      weightDecay: nonNegative().default(0),
      adamBeta1: fraction().default(0.9),
      adamBeta2: fraction().default(0.999),
      adamEps: positive().default(1e-8),
      maxGradNorm: nonNegative('a number ≥ 0 (0 turns clipping off)').default(1),
      checkpointEvery: int(0).default(0),
      evalEvery: int(0).default(0),
      logSamplesEvery: int(0).default(10),
    })
    .prefault({}),
  algorithm: z
    .strictObject({
      advantage: z
        .strictObject({
          /** Advantage estimator by name; absent = the algorithm plugin's default (`grpo`, or `gae` with PPO). */
          estimator: z.string().min(1).optional(),
          std: z.enum(['unbiased', 'biased']).default('unbiased'),
          eps: nonNegative().default(1e-4),
          zeroVarianceToZero: z.boolean().default(true),
          singleton: z.enum(['zero', 'raw']).default('zero'),
        })
        .prefault({}),
      objective: z
        .strictObject({
          /** Objective by name; absent = the algorithm plugin's default (`clipped-surrogate`, or `ppo`). */
          name: z.string().min(1).optional(),
          epsilonLow: nonNegative().default(0.2),
          epsilonHigh: nonNegative().default(0.2),
          /** Dual-clip constant c > 1 (verl `clip_ratio_c`); off when absent. */
          dualClip: num('a number > 1').gt(1, { error: (i) => `expected a number > 1, got ${JSON.stringify(i.input)}` }).optional(),
          ratioLevel: z.enum(['token', 'sequence']).default('token'),
          entropyCoef: nonNegative().default(0),
        })
        .prefault({}),
      kl: z
        .strictObject({
          /** β; 0 loads no reference model. */
          beta: nonNegative().default(0.04),
          estimator: z.string().min(1).default('k3'),
          /** Put β·KL in the reward (PPO-style, k1 per token) instead of the loss. */
          inReward: z.boolean().default(false),
          /** Reset π_ref ← π_θ every N steps (DeepSeekMath's iterative scheme); 0 = never. */
          refResetEvery: int(0).default(0),
          /** TR-DPO mixing π_ref ← α·π_θ + (1 − α)·π_ref every `trDpoTau` steps. */
          trDpoAlpha: fraction().optional(),
          trDpoTau: int(1).default(512),
        })
        .prefault({}),
      lossAggregation: z.string().min(1).default('seq-mean-token-mean'),
      dynamicSampling: z
        .strictObject({ enabled: z.boolean().default(false), maxRounds: int(0).default(3) })
        .prefault({}),
      overlong: z
        .strictObject({
          enabled: z.boolean().default(false),
          buffer: int(1).default(16),
          factor: nonNegative().default(1),
        })
        .prefault({}),
      maskTruncated: z.boolean().default(false),
    })
    .prefault({}),
  eval: z
    .strictObject({
      /** Reward whose score 1 means "correct" (greedy accuracy, pass@k, maj@k); default: the first reward named like `*accuracy*`. */
      accuracyReward: z.string().min(1).optional(),
      /** Samples per prompt for pass@k and maj@k; 0 skips them. */
      k: int(0).default(8),
      /** Sampling temperature for pass@k and maj@k. */
      temperature: positive().default(1),
    })
    .prefault({}),
  rewards: z
    .strictObject({
      /** Weight per reward function name; unnamed functions weigh 1. */
      weights: z.record(z.string(), num('a number')).default({}),
      timeoutMs: int(1).default(30_000),
      /** `raise` stops the step naming the reward and sample; `penalty` scores it `penalty` and counts it. */
      onError: z.enum(['raise', 'penalty']).default('raise'),
      penalty: num('a number').default(0),
    })
    .prefault({}),
});

/** What users write: every field optional. */
export type GrpoConfigInput = z.input<typeof configSchema>;
/** The validated config with defaults, plugins not yet resolved from package names. */
export type ParsedConfig = z.output<typeof configSchema>;
/** The config after package names were resolved to plugin objects. */
export type ResolvedConfig = Omit<ParsedConfig, 'plugins'> & { plugins: GrpoPlugin[]; source: string };

export type ModelConfig = z.output<typeof modelSchema>;

export const GrpoConfig = Symbol.for('grpo.Config');
export type GrpoConfig = ResolvedConfig;
