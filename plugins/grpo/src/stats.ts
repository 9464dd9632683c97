/**
 * Small pure functions over plain number arrays: the building blocks of the advantage
 * estimators, exported for users who write their own.
 *
 * Rule for a group of one (the `singleton` option, applied by every group estimator here):
 * - `zero` (the default): the only member gets advantage 0 — one sample has nothing to be
 *   relative to, so it carries no learning signal;
 * - `raw` (verl): the group mean is taken as 0 and the group std as 1, so A = r. Unlike verl we
 *   do not divide by (1 + eps), so A is exactly r.
 *
 * An all-equal group (every member has exactly the same reward) has mean equal to that reward
 * and std 0, so it gets advantage 0 for every member, never NaN, whatever eps is.
 */
import { allEqual, mean, std, type AdvantageOptions } from '@grpo/core';

export type StdKind = AdvantageOptions['std'];

/** The defaults of `algorithm.advantage` in the config schema (TRL's: unbiased std, eps 1e-4 on the std). */
export const DEFAULT_ADVANTAGE_OPTIONS: Readonly<AdvantageOptions> = Object.freeze({
  std: 'unbiased',
  eps: 1e-4,
  zeroVarianceToZero: true,
  singleton: 'zero',
});

/** Fills in the defaults for any option left out. */
export function advantageOptions(options: Partial<AdvantageOptions> = {}): AdvantageOptions {
  return { ...DEFAULT_ADVANTAGE_OPTIONS, ...options };
}

/** Mean and std of a group, with the all-equal case exact (mean = the common value, std = 0). */
export interface GroupStats {
  n: number;
  mean: number;
  std: number;
  /** Every value is the same (and there are at least two). */
  zeroStd: boolean;
}

export function groupStats(xs: readonly number[], kind: StdKind = 'unbiased'): GroupStats {
  const n = xs.length;
  if (n >= 2 && allEqual(xs)) return { n, mean: xs[0]!, std: 0, zeroStd: true };
  return { n, mean: mean(xs), std: std(xs, kind), zeroStd: false };
}

/** x / d, or 0 when d is 0 (used where x is then 0 too: an all-equal group with eps 0). */
function safeDiv(x: number, d: number): number {
  return d === 0 ? 0 : x / d;
}

/**
 * GRPO outcome supervision (DeepSeekMath §4.1.2): (r − mean) / (std + eps) within one group.
 * Groups of one follow `singleton`; an all-equal group gives 0.
 */
export function zScore(rewards: readonly number[], options: Partial<AdvantageOptions> = {}): number[] {
  const o = advantageOptions(options);
  if (rewards.length === 0) return [];
  if (rewards.length === 1) return o.singleton === 'raw' ? [rewards[0]!] : [0];
  const s = groupStats(rewards, o.std);
  if (s.zeroStd && o.zeroVarianceToZero) return rewards.map(() => 0);
  return rewards.map((r) => safeDiv(r - s.mean, s.std + o.eps));
}

/** Dr. GRPO (arXiv 2503.20783): r − mean, no std division. Groups of one follow `singleton`. */
export function centered(rewards: readonly number[], options: Pick<Partial<AdvantageOptions>, 'singleton'> = {}): number[] {
  const singleton = options.singleton ?? DEFAULT_ADVANTAGE_OPTIONS.singleton;
  if (rewards.length === 0) return [];
  if (rewards.length === 1) return singleton === 'raw' ? [rewards[0]!] : [0];
  const m = allEqual(rewards) ? rewards[0]! : mean(rewards);
  return rewards.map((r) => r - m);
}

/**
 * RLOO: r_i − mean of the other members = G/(G − 1)·(r_i − mean). Groups of one have no
 * "others" and follow `singleton` (raw: baseline 0, A = r).
 */
export function leaveOneOut(rewards: readonly number[], options: Pick<Partial<AdvantageOptions>, 'singleton'> = {}): number[] {
  const g = rewards.length;
  if (g <= 1) return centered(rewards, options);
  let total = 0;
  for (const r of rewards) total += r;
  return rewards.map((r) => r - (total - r) / (g - 1));
}

/**
 * Whitening over a flat list of values: (x − mean) / sqrt(var + eps), eps 1e-8 by default
 * (verl's `masked_whiten`, unbiased variance by default). Fewer than two values, or all equal,
 * have variance 0, so the result is 0.
 */
export function whiten(values: readonly number[], options: { std?: StdKind; eps?: number } = {}): number[] {
  const kind = options.std ?? 'unbiased';
  const eps = options.eps ?? 1e-8;
  const s = groupStats(values, kind);
  const denom = Math.sqrt(s.std * s.std + eps);
  return values.map((x) => safeDiv(x - s.mean, denom));
}

/** One row per value, repeated `lengths[i]` times (outcome advantages on every token). */
export function broadcast(values: readonly number[], lengths: readonly number[]): number[][] {
  return lengths.map((len, i) => new Array<number>(len).fill(values[i] ?? 0));
}

/** A step-end reward: `token` indexes the completion's tokens. */
export interface StepRewardAt {
  token: number;
  reward: number;
}

/**
 * Per-token advantages from already-normalised step rewards: A_t = Σ of r̃_j over the steps j
 * whose end token is at or after t (a reverse cumulative sum).
 */
export function stepReturns(steps: readonly StepRewardAt[], length: number): number[] {
  const out = new Array<number>(length).fill(0);
  for (const { token, reward } of steps) {
    // A step ending at `token` counts for every t ≤ token (for every t if it ends beyond the completion).
    const last = Math.min(token, length - 1);
    for (let t = 0; t <= last; t++) out[t]! += reward;
  }
  return out;
}

/**
 * GRPO process supervision (DeepSeekMath §4.1.3) for one group: every step reward is normalised
 * with the mean and std of ALL step rewards of the group, then A_{i,t} = Σ of the normalised
 * rewards of the steps of completion i ending at or after t.
 *
 * A group of one completion follows `singleton` (raw: mean 0, std 1, so step rewards are used as
 * they are); a group whose step rewards are all equal (or that has a single step reward) gets 0.
 */
export function processAdvantages(
  steps: readonly (readonly StepRewardAt[])[],
  lengths: readonly number[],
  options: Partial<AdvantageOptions> = {},
): number[][] {
  const o = advantageOptions(options);
  const zeros = (): number[][] => lengths.map((len) => new Array<number>(len).fill(0));
  if (lengths.length === 0) return [];
  if (lengths.length === 1) {
    return o.singleton === 'raw' ? [stepReturns(steps[0] ?? [], lengths[0]!)] : zeros();
  }
  const pooled = steps.flatMap((s) => s.map((x) => x.reward));
  const s = groupStats(pooled, o.std);
  if (pooled.length < 2 || (s.zeroStd && o.zeroVarianceToZero)) return zeros();
  return lengths.map((len, i) =>
    stepReturns(
      (steps[i] ?? []).map(({ token, reward }) => ({ token, reward: safeDiv(reward - s.mean, s.std + o.eps) })),
      len,
    ),
  );
}
