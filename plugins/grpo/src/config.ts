/** The `algorithm` config section, owned by this plugin: estimator, objective, KL, loss aggregation and DAPO's options. */
import { field, type Section } from '@grpo/core';
import { z } from 'zod';

const { int, fraction, greaterThan, nonNegative } = field;

export const algorithmSchema = z
  .strictObject({
    advantage: z
      .strictObject({
        estimator: z
          .string()
          .min(1)
          .optional()
          .describe(
            "Advantage estimator by name (`grpo`, `grpo-process`, `dr-grpo`, `rloo`, `reinforce-plus-plus`, `grpo-batch`, `rft`, `gae` with PPO); absent = the algorithm plugin's default.",
          ),
        std: z.enum(['unbiased', 'biased']).default('unbiased').describe('Group standard deviation: n − 1 (TRL, verl, OpenRLHF) or n.'),
        eps: nonNegative().default(1e-4).describe('Added to the std, not the variance (TRL 1e-4, verl 1e-6).'),
        zeroVarianceToZero: z.boolean().default(true).describe('A group whose rewards are all equal gets advantage 0 (never NaN).'),
        singleton: z.enum(['zero', 'raw']).default('zero').describe('Group of one: `zero` gives A = 0; `raw` follows verl (A = r).'),
      })
      .prefault({}),
    objective: z
      .strictObject({
        name: z.string().min(1).optional().describe("Objective by name; absent = the algorithm plugin's default (`clipped-surrogate`, or `ppo`)."),
        epsilonLow: nonNegative().default(0.2).describe('Lower clip range: ρ is clipped at 1 − epsilonLow.'),
        epsilonHigh: nonNegative().default(0.2).describe('Upper clip range: ρ is clipped at 1 + epsilonHigh (DAPO clip-higher: 0.28).'),
        dualClip: greaterThan(1).optional().describe('Dual-clip constant c > 1 (verl `clip_ratio_c`, usually 3); off when absent.'),
        ratioLevel: z
          .enum(['token', 'sequence'])
          .default('token')
          .describe("`sequence` = GSPO's length-normalised sequence ratio (use clip ranges near 3e-4 / 4e-4)."),
        entropyCoef: nonNegative().default(0).describe('Weight of the entropy bonus.'),
      })
      .prefault({}),
    kl: z
      .strictObject({
        beta: nonNegative().default(0.04).describe('β; 0 loads no reference model.'),
        estimator: z.string().min(1).default('k3').describe('KL estimator: `k1`, `abs`, `k2` or `k3`.'),
        inReward: z.boolean().default(false).describe('Put β·KL in the reward (PPO-style, k1 per token) instead of the loss.'),
        refResetEvery: int(0).default(0).describe("Reset π_ref ← π_θ every N steps (DeepSeekMath's iterative scheme); 0 = never."),
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
  .prefault({})
  .describe('The algorithm (owned by @grpo/plugin-grpo): advantage estimator, objective, KL penalty, loss aggregation, DAPO options.');

/** The validated `algorithm` section. */
export type AlgorithmConfig = z.output<typeof algorithmSchema>;

declare module '@grpo/core' {
  interface ConfigSections {
    algorithm: Section<typeof algorithmSchema>;
  }
}
