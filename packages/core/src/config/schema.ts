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
  vocabSize: int(2).optional().describe('Vocabulary size; defaults to (and must equal) the tokenizer\'s.'),
  dModel: int(1).default(128).describe('Width of the residual stream.'),
  nLayers: int(1).default(4).describe('Transformer blocks.'),
  nHeads: int(1).default(4).describe('Attention heads; must divide dModel.'),
  nKvHeads: int(1).optional().describe('Grouped-query attention: key/value heads; must divide nHeads. Defaults to nHeads.'),
  ffnDim: int(1).optional().describe('SwiGLU hidden size; defaults to about 8/3·dModel rounded to 8.'),
  maxSeqLen: int(2).default(128).describe('Longest prompt + completion, in tokens (RoPE positions and KV-cache size).'),
  ropeBase: positive().default(10000).describe('Base of the rotary position embedding frequencies.'),
  normEps: positive().default(1e-5).describe('Epsilon of RMSNorm.'),
  tiedEmbeddings: z.boolean().default(true).describe('Share the input embedding with the output projection.'),
});

export const configSchema = z.strictObject({
  plugins: z
    .array(pluginEntry)
    .default([])
    .describe('Plugins loaded after the defaults, in order. In TS/JS configs plugin objects (falsy entries are skipped, nested arrays are presets); in JSON/YAML package names or [name, options].'),
  backend: z.string().min(1).default('wasm').describe('Tensor backend: `wasm` (default), `cpu`, `tfjs-node` or `tfjs-node-gpu`; see docs/backends.md.'),
  seed: int(0).default(0).describe('Seed of data order, sampling and fresh weights; the same seed and config give the same run.'),
  outputDir: z.string().min(1).default('runs/latest').describe('Run directory: metrics.jsonl, samples.jsonl, checkpoints/, report.html.'),
  policy: z
    .strictObject({
      checkpoint: z.string().min(1).optional().describe('Checkpoint directory to start from.'),
      model: modelSchema.optional().describe('Architecture when starting from scratch.'),
    })
    .prefault({}),
  data: z
    .strictObject({
      train: z.string().min(1).optional().describe('JSONL file of training rows (relative to the config file); not needed when a plugin binds a PromptDataset.'),
      eval: z.string().min(1).optional().describe('JSONL file of held-out rows for evaluation.'),
      promptField: z.string().min(1).default('prompt').describe('Field of each row that holds the prompt (e.g. `question` for GSM8K).'),
      promptTemplate: z.string().default('{prompt}').describe('Template with `{prompt}` (and any other `{field}`) placeholders.'),
      evalSize: int(1).optional().describe('Evaluate on at most this many rows of the evaluation set.'),
    })
    .prefault({}),
  generation: z
    .strictObject({
      maxNewTokens: int(1).default(64).describe('Longest completion, in tokens; longer ones stop with finish reason `length`.'),
      temperature: nonNegative().default(1).describe('Sampling temperature of rollouts; 0 is greedy (every completion of a group then alike).'),
      topK: int(0).default(0).describe('Sample among the k most likely tokens; 0 turns it off.'),
      topP: fraction().default(1).describe('Nucleus sampling mass; 1 turns it off.'),
      stop: z.array(z.string().min(1)).default([]).describe('Stop strings; a completion ends after the first one it produces.'),
    })
    .prefault({}),
  train: z
    .strictObject({
      steps: int(1).default(100).describe('Training steps (each samples promptsPerStep × groupSize completions).'),
      promptsPerStep: int(1).default(16).describe('Prompts sampled per step (B).'),
      groupSize: int(2).default(8).describe('Completions per prompt (G), the group the advantages are relative to.'),
      numIterations: int(1).default(1).describe('μ: policy updates per batch of samples. With 1, the loss value is about 0 (docs/faq.md).'),
      miniBatchSize: int(1).optional().describe('Sequences per optimizer step; must divide promptsPerStep × groupSize. Defaults to the whole batch.'),
      microBatchSize: int(1).optional().describe('Sequences per forward/backward pass (exact gradient accumulation); must divide miniBatchSize. Defaults to min(miniBatchSize, 32).'),
      learningRate: positive().default(1e-4).describe('Peak learning rate of AdamW.'),
      lrSchedule: z.enum(['constant', 'linear', 'cosine']).default('constant').describe('Learning rate after warm-up: constant, or a linear or cosine decay to minLrRatio × learningRate.'),
      warmupSteps: int(0).default(0).describe('Linear warm-up steps from 0 to learningRate.'),
      minLrRatio: fraction().default(0).describe('Final learning rate of the linear/cosine schedules, as a share of learningRate.'),
      weightDecay: nonNegative().default(0).describe('Decoupled weight decay (AdamW).'),
      adamBeta1: fraction().default(0.9).describe('AdamW β1.'),
      adamBeta2: fraction().default(0.999).describe('AdamW β2.'),
      adamEps: positive().default(1e-8).describe('AdamW epsilon.'),
      maxGradNorm: nonNegative('a number ≥ 0 (0 turns clipping off)').default(1).describe('Clip gradients to this global norm; 0 turns clipping off.'),
      checkpointEvery: int(0).default(0).describe('Save a checkpoint every N steps (and always at the end); 0 = only at the end.'),
      evalEvery: int(0).default(0).describe('Evaluate every N steps; 0 = never during training.'),
      logSamplesEvery: int(0).default(10).describe('Write sample completions to samples.jsonl every N steps; 0 = never.'),
    })
    .prefault({}),
  algorithm: z
    .strictObject({
      advantage: z
        .strictObject({
          estimator: z.string().min(1).optional().describe('Advantage estimator by name (`grpo`, `grpo-process`, `dr-grpo`, `rloo`, `reinforce-plus-plus`, `grpo-batch`, `rft`, `gae` with PPO); absent = the algorithm plugin\'s default.'),
          std: z.enum(['unbiased', 'biased']).default('unbiased').describe('Group standard deviation: n − 1 (TRL, verl, OpenRLHF) or n.'),
          eps: nonNegative().default(1e-4).describe('Added to the std, not the variance (TRL 1e-4, verl 1e-6).'),
          zeroVarianceToZero: z.boolean().default(true).describe('A group whose rewards are all equal gets advantage 0 (never NaN).'),
          singleton: z.enum(['zero', 'raw']).default('zero').describe('Group of one: `zero` gives A = 0; `raw` follows verl (A = r).'),
        })
        .prefault({}),
      objective: z
        .strictObject({
          name: z.string().min(1).optional().describe('Objective by name; absent = the algorithm plugin\'s default (`clipped-surrogate`, or `ppo`).'),
          epsilonLow: nonNegative().default(0.2).describe('Lower clip range: ρ is clipped at 1 − epsilonLow.'),
          epsilonHigh: nonNegative().default(0.2).describe('Upper clip range: ρ is clipped at 1 + epsilonHigh (DAPO clip-higher: 0.28).'),
          dualClip: num('a number > 1').gt(1, { error: (i) => `expected a number > 1, got ${JSON.stringify(i.input)}` }).optional().describe('Dual-clip constant c > 1 (verl `clip_ratio_c`, usually 3); off when absent.'),
          ratioLevel: z.enum(['token', 'sequence']).default('token').describe('`sequence` = GSPO\'s length-normalised sequence ratio (use clip ranges near 3e-4 / 4e-4).'),
          entropyCoef: nonNegative().default(0).describe('Weight of the entropy bonus.'),
        })
        .prefault({}),
      kl: z
        .strictObject({
          beta: nonNegative().default(0.04).describe('β; 0 loads no reference model.'),
          estimator: z.string().min(1).default('k3').describe('KL estimator: `k1`, `abs`, `k2` or `k3`.'),
          inReward: z.boolean().default(false).describe('Put β·KL in the reward (PPO-style, k1 per token) instead of the loss.'),
          refResetEvery: int(0).default(0).describe('Reset π_ref ← π_θ every N steps (DeepSeekMath\'s iterative scheme); 0 = never.'),
          trDpoAlpha: fraction().optional().describe('TR-DPO mixing π_ref ← α·π_θ + (1 − α)·π_ref every trDpoTau steps; off when absent.'),
          trDpoTau: int(1).default(512).describe('Steps between TR-DPO mixes.'),
        })
        .prefault({}),
      lossAggregation: z
        .string()
        .min(1)
        .default('seq-mean-token-mean')
        .describe('Per-token loss → scalar: `seq-mean-token-mean`, `token-mean`, `seq-mean-token-sum` or `constant` (Dr. GRPO).'),
      dynamicSampling: z
        .strictObject({
          enabled: z.boolean().default(false).describe('DAPO dynamic sampling: keep only groups whose rewards differ, sampling more to fill the batch.'),
          maxRounds: int(0).default(3).describe('Extra generation rounds at most per step.'),
        })
        .prefault({}),
      overlong: z
        .strictObject({
          enabled: z.boolean().default(false).describe('DAPO overlong shaping of the reward near generation.maxNewTokens.'),
          buffer: int(1).default(16).describe('L_buf: tokens before maxNewTokens where the penalty starts.'),
          factor: nonNegative().default(1).describe('Penalty at maxNewTokens (it grows linearly over the buffer).'),
        })
        .prefault({}),
      maskTruncated: z.boolean().default(false).describe('Completions that hit maxNewTokens get loss mask 0 (TRL `mask_truncated_completions`).'),
    })
    .prefault({}),
  eval: z
    .strictObject({
      accuracyReward: z.string().min(1).optional().describe('Reward whose score 1 means correct (greedy accuracy, pass@k, maj@k); default: the first reward named like `*accuracy*`.'),
      k: int(0).default(8).describe('Samples per prompt for pass@k and maj@k; 0 skips them.'),
      temperature: positive().default(1).describe('Sampling temperature for pass@k and maj@k.'),
    })
    .prefault({}),
  rewards: z
    .strictObject({
      weights: z.record(z.string(), num('a number')).default({}).describe('Weight per reward function name; unnamed functions weigh 1. The reward is the weighted sum.'),
      timeoutMs: int(1).default(30_000).describe('Per-call timeout of a reward function on a batch.'),
      onError: z.enum(['raise', 'penalty']).default('raise').describe('`raise` stops the step naming the reward and sample; `penalty` scores it `penalty` and counts it.'),
      penalty: num('a number').default(0).describe('Score given to a sample whose reward threw, timed out or was not finite, with onError: penalty.'),
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
