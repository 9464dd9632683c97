/**
 * Generalised advantage estimation (Schulman et al. 2015, "High-Dimensional Continuous Control
 * Using Generalized Advantage Estimation"), per completion token:
 *
 *   δ_t = r_t + γ·V_{t+1} − V_t        (V past the last token = 0)
 *   A_t = δ_t + γλ·A_{t+1}             (A past the last token = 0)
 *   returns_t = A_t + V_t              (the critic's targets)
 *
 * then A is whitened over every valid token of the batch: (A − mean)/sqrt(var + 1e-8) with the
 * unbiased variance (verl's `masked_whiten`). The outcome reward sits on the last token; with KL
 * in the reward every token also gets −β·(log π_old − log π_ref) (k1).
 *
 * Rules: an `unscored` completion (no reward applied) gets advantage 0 and returns equal to its
 * values (no critic target). Completions masked out of the loss (`ScoredGroup.masked`, e.g. truncated
 * ones with `algorithm.maskTruncated`) get advantage 0 but keep their returns. Neither counts in the whitening
 * statistics nor in the observed KL.
 */
import { GrpoError, mean } from '@grpo/core';
import type { AdvantageBatch, AdvantageEstimator, AdvantageInput } from '@grpo/core';
import { whiten as whitenValues } from '@grpo/plugin-grpo';
import { KlController } from './kl-controller.js';

export interface GaeOptions {
  /** Discount γ (default 1, as in RLHF practice: TRL, verl, OpenRLHF). */
  gamma: number;
  /** GAE λ (default 0.95: TRL, OpenRLHF). */
  lambda: number;
  /** Whiten the advantages over the batch's valid tokens (default true). */
  whiten: boolean;
  /** β of the KL in the reward: fixed (the config's `algorithm.kl.beta`) or adaptive. */
  kl: KlController;
}

/** GAE over one completion's per-token rewards and values; returns advantages and returns. */
export function gaeSequence(rewards: readonly number[], values: readonly number[], gamma: number, lambda: number): { advantages: number[]; returns: number[] } {
  const T = rewards.length;
  if (values.length !== T) throw new GrpoError(`gae: ${T} rewards but ${values.length} values for one completion`);
  const advantages = new Array<number>(T).fill(0);
  let next = 0;
  for (let t = T - 1; t >= 0; t--) {
    const nextValue = t + 1 < T ? values[t + 1]! : 0;
    const delta = rewards[t]! + gamma * nextValue - values[t]!;
    next = delta + gamma * lambda * next;
    advantages[t] = next;
  }
  return { advantages, returns: advantages.map((a, t) => a + values[t]!) };
}

/** The `gae` advantage estimator; needs a critic (`needsValues`) and returns the critic's targets. */
export function gae(options: Partial<GaeOptions> = {}): AdvantageEstimator {
  const gamma = options.gamma ?? 1;
  const lambda = options.lambda ?? 0.95;
  const whiten = options.whiten ?? true;
  const controller = options.kl ?? new KlController();
  if (!(gamma >= 0 && gamma <= 1)) throw new GrpoError(`gae: gamma must be in [0, 1], got ${gamma}`);
  if (!(lambda >= 0 && lambda <= 1)) throw new GrpoError(`gae: lambda must be in [0, 1], got ${lambda}`);

  return {
    name: 'gae',
    needsValues: true,
    estimate(input: AdvantageInput): AdvantageBatch {
      const { values } = input;
      if (!values) throw new GrpoError("advantage estimator 'gae' needs per-token values from a value model (critic): add ppo() to the plugins");
      const completions = input.groups.flatMap((g, gi) =>
        g.completions.map((c, i) => {
          const reward = g.rewards[i];
          const unscored = g.unscored[i] === true;
          if (!unscored && !Number.isFinite(reward))
            throw new GrpoError(`gae: completion ${i} of group ${gi} has reward ${reward}; rewards must be finite numbers`);
          return { length: c.tokenIds.length, reward: reward ?? 0, unscored, valid: !unscored && g.masked?.[i] !== true };
        }),
      );
      if (values.length !== completions.length) throw new GrpoError(`gae: ${completions.length} completions but ${values.length} rows of values`);

      const klBeta = input.klInReward ? controller.beta(input.klInReward.beta) : 0;
      const useKl = klBeta > 0 && input.oldLogprobs !== undefined && input.refLogprobs !== undefined;
      if (input.klInReward && input.klInReward.beta > 0 && !useKl)
        throw new GrpoError('gae: KL in the reward needs per-token π_old and π_ref log-probs (algorithm.kl.inReward with kl.beta > 0)');
      const klSums: number[] = [];

      const raw = completions.map((c, i) => {
        const v = values[i]!;
        if (v.length !== c.length) throw new GrpoError(`gae: completion ${i} has ${c.length} tokens but ${v.length} values`);
        if (c.unscored) return { advantages: v.map(() => 0), returns: [...v] };
        const rewards = new Array<number>(c.length).fill(0);
        if (useKl) {
          const old = input.oldLogprobs![i]!;
          const ref = input.refLogprobs![i]!;
          let sum = 0;
          for (let t = 0; t < c.length; t++) {
            const k1 = old[t]! - ref[t]!;
            rewards[t] = -klBeta * k1;
            sum += k1;
          }
          if (c.valid) klSums.push(sum);
        }
        if (c.length > 0) rewards[c.length - 1]! += c.reward;
        return gaeSequence(rewards, v, gamma, lambda);
      });

      const validAdvantages = raw.flatMap((r, i) => (completions[i]!.valid ? r.advantages : []));
      const metrics: Record<string, number> = { 'advantages/raw_mean': mean(validAdvantages) };
      let advantages = raw.map((r, i) => (completions[i]!.valid ? r.advantages : r.advantages.map(() => 0)));
      if (whiten) {
        // Statistics over valid tokens only; tokens outside the loss (unscored, masked) stay 0.
        const white = whitenValues(validAdvantages, { std: 'unbiased', eps: 1e-8 });
        let k = 0;
        advantages = raw.map((r, i) => (completions[i]!.valid ? r.advantages.map(() => white[k++]!) : r.advantages.map(() => 0)));
      }
      if (useKl) {
        const observed = mean(klSums);
        metrics['kl_in_reward/mean'] = observed;
        metrics['kl_in_reward/beta'] = klBeta;
        controller.update(klBeta, observed);
      }
      return { advantages, returns: raw.map((r) => r.returns), metrics };
    },
  };
}
