/**
 * DAPO's rollout filter and reward shapers, and the reference schedules of DeepSeekMath and
 * TR-DPO: small pure functions plus the contribution objects built from the `algorithm` section.
 */
import type { ReferenceSchedule, RewardShaper, RolloutFilter, ScoredGroup } from '@grpo/core';

/**
 * DAPO's soft overlong punishment: with exceed = |y| − (L_max − L_buf),
 * r += min(−exceed / L_buf · factor, 0), reaching −factor at L_max.
 */
export function overlongPenalty(length: number, maxLength: number, buffer: number, factor: number): number {
  const exceed = length - (maxLength - buffer);
  const penalty = Math.min((-exceed / buffer) * factor, 0);
  return penalty === 0 ? 0 : penalty; // no −0
}

/** True when a group's rewards are not all equal, i.e. it carries a learning signal (DAPO dynamic sampling). */
export function hasRewardVariance(group: ScoredGroup): boolean {
  const scored = group.rewards.filter((_, i) => !group.unscored[i]);
  return scored.length > 1 && scored.some((r) => Math.abs(r - scored[0]!) > 1e-12);
}

/** DAPO dynamic sampling: keep groups with reward variance, refilling for up to `maxRounds` extra rounds. Logs `dynamic_sampling/*`. */
export function dynamicSampling(options: { maxRounds: number }): RolloutFilter {
  return { name: 'dynamic_sampling', refillRounds: options.maxRounds, keep: hasRewardVariance };
}

/** DAPO's overlong shaping: the penalty added to each completion's reward; logs `rewards/overlong_penalty/mean`. */
export function overlongShaping(options: { buffer: number; factor: number }): RewardShaper {
  return {
    name: 'overlong',
    shape(groups, { maxNewTokens }) {
      let sum = 0;
      let n = 0;
      const shaped = groups.map((g) => ({
        ...g,
        rewards: g.rewards.map((r, i) => {
          const p = overlongPenalty(g.completions[i]!.tokenIds.length, maxNewTokens, options.buffer, options.factor);
          sum += p;
          n++;
          return r + p;
        }),
      }));
      return { groups: shaped, metrics: { 'rewards/overlong_penalty/mean': n ? sum / n : 0 } };
    },
  };
}

/** TRL's `mask_truncated_completions`: completions that hit the length limit are left out of the loss. */
export const maskTruncated: RewardShaper = {
  name: 'mask_truncated',
  // After the reward shapers: it changes the loss mask, not rewards.
  order: 100,
  shape: (groups) => ({ groups: groups.map((g) => ({ ...g, masked: g.completions.map((c, i) => g.masked?.[i] === true || c.finishReason === 'length') })) }),
};

/**
 * π_ref's schedule after step `step`: TR-DPO's mixing π_ref ← α·π_θ + (1 − α)·π_ref on every
 * `trDpoTau`-th step when `trDpoAlpha` is set; otherwise DeepSeekMath's reset π_ref ← π_θ on every
 * `refResetEvery`-th step (0 = never).
 */
export function referenceSchedule(options: { refResetEvery: number; trDpoAlpha?: number; trDpoTau: number }): ReferenceSchedule {
  return {
    name: 'reference-schedule',
    afterUpdate({ step, policy, reference }) {
      if (options.trDpoAlpha !== undefined && (step + 1) % options.trDpoTau === 0) reference.syncFrom(policy, options.trDpoAlpha);
      else if (options.refResetEvery > 0 && (step + 1) % options.refResetEvery === 0) reference.syncFrom(policy);
    },
  };
}
