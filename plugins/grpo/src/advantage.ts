/**
 * Advantage estimators: `AdvantageEstimator` objects (selected by name from
 * `algorithm.advantage.estimator`) built on the pure functions of `stats.ts`.
 *
 * Shared rules:
 * - a completion flagged `unscored` (no reward applied) gets advantage 0 on every token and is
 *   left out of every statistic (group mean/std, batch std, whitening);
 * - the "group" of the group statistics is the group's scored completions, so the rule for a
 *   group of one (`options.singleton`) applies when a group has a single scored completion;
 * - output rows are in group order, one row per completion, one value per completion token.
 */
import { GrpoError } from '@grpo/core';
import type { AdvantageBatch, AdvantageEstimator, AdvantageInput, AdvantageOptions, ScoredGroup } from '@grpo/core';
import { allEqual } from '@grpo/core';
import { advantageOptions, broadcast, centered, groupStats, leaveOneOut, processAdvantages, whiten, zScore, type StepRewardAt } from './stats.js';

/** One group after validation: which completions are scored, their rewards and token counts. */
interface GroupView {
  lengths: number[];
  scored: number[];
  rewards: number[];
}

function view(group: ScoredGroup, index: number): GroupView {
  const g = group.completions.length;
  if (group.rewards.length !== g) {
    throw new GrpoError(`Advantage: group ${index} has ${g} completions but ${group.rewards.length} rewards; expected one reward per completion.`);
  }
  const scored: number[] = [];
  for (let i = 0; i < g; i++) {
    if (group.unscored[i] === true) continue;
    const r = group.rewards[i]!;
    if (!Number.isFinite(r)) {
      throw new GrpoError(`Advantage: completion ${i} of group ${index} has reward ${r}; rewards must be finite numbers.`);
    }
    scored.push(i);
  }
  return {
    lengths: group.completions.map((c) => c.tokenIds.length),
    scored,
    rewards: scored.map((i) => group.rewards[i]!),
  };
}

/** Per-scored-completion values back into a full group (unscored completions get 0). */
function scatter(v: GroupView, values: readonly number[]): number[] {
  const out = new Array<number>(v.lengths.length).fill(0);
  v.scored.forEach((i, k) => (out[i] = values[k]!));
  return out;
}

/** Rows for a group from per-completion scalar advantages (outcome supervision). */
function outcomeRows(v: GroupView, values: readonly number[]): number[][] {
  return broadcast(scatter(v, values), v.lengths);
}

/** Batch metrics every estimator reports. `zeroStd` flags groups whose (≥ 2) statistics inputs are all equal. */
function batchMetrics(views: readonly GroupView[], rows: readonly number[][], zeroStd: readonly boolean[]): Record<string, number> {
  const groups = Math.max(1, views.length);
  let completions = 0;
  let unscored = 0;
  let sum = 0;
  let count = 0;
  let min = Infinity;
  let max = -Infinity;
  let row = 0;
  for (const v of views) {
    const scored = new Set(v.scored);
    for (let i = 0; i < v.lengths.length; i++, row++) {
      completions++;
      if (!scored.has(i)) {
        unscored++;
        continue;
      }
      for (const a of rows[row]!) {
        sum += a;
        count++;
        if (a < min) min = a;
        if (a > max) max = a;
      }
    }
  }
  return {
    frac_reward_zero_std: zeroStd.filter(Boolean).length / groups,
    frac_singleton_groups: views.filter((v) => v.scored.length === 1).length / groups,
    frac_unscored: completions === 0 ? 0 : unscored / completions,
    'advantages/mean': count === 0 ? 0 : sum / count,
    'advantages/min': count === 0 ? 0 : min,
    'advantages/max': count === 0 ? 0 : max,
  };
}

const isZeroStd = (rewards: readonly number[]): boolean => rewards.length >= 2 && allEqual(rewards);

/** An estimator whose advantage is one scalar per completion, computed group by group. */
function outcomeEstimator(name: string, perGroup: (rewards: readonly number[], options: AdvantageOptions) => number[]): AdvantageEstimator {
  return {
    name,
    estimate(input: AdvantageInput): AdvantageBatch {
      const options = advantageOptions(input.options);
      const views = input.groups.map(view);
      const rows = views.flatMap((v) => outcomeRows(v, perGroup(v.rewards, options)));
      return {
        advantages: rows,
        metrics: batchMetrics(
          views,
          rows,
          views.map((v) => isZeroStd(v.rewards)),
        ),
      };
    },
  };
}

/** `grpo`: outcome supervision, (r − mean_g) / (std_g + eps) on every token (DeepSeekMath §4.1.2). */
export const grpoOutcome: AdvantageEstimator = outcomeEstimator('grpo', (r, o) => zScore(r, o));

/** `dr-grpo`: r − mean_g (Dr. GRPO, arXiv 2503.20783). */
export const drGrpo: AdvantageEstimator = outcomeEstimator('dr-grpo', (r, o) => centered(r, o));

/** `rloo`: r_i − mean of the other members of the group (REINFORCE leave-one-out). */
export const rloo: AdvantageEstimator = outcomeEstimator('rloo', (r, o) => leaveOneOut(r, o));

/**
 * `rft`: online rejection-sampling fine-tuning (DeepSeekMath §5.2.1), whose gradient coefficient
 * is 1 for a correct sample and 0 otherwise: A_i = 1 when r_i > 0, else 0. Use it with β = 0 and
 * μ = 1 (then the clipped surrogate reduces to supervised fine-tuning on the correct samples).
 */
export const rft: AdvantageEstimator = outcomeEstimator('rft', (r) => r.map((x) => (x > 0 ? 1 : 0)));

/** `grpo-process`: process supervision, normalised step rewards summed over the steps ending at or after t (§4.1.3). */
export const grpoProcess: AdvantageEstimator = {
  name: 'grpo-process',
  estimate(input: AdvantageInput): AdvantageBatch {
    const options = advantageOptions(input.options);
    const views = input.groups.map(view);
    const zeroStd: boolean[] = [];
    const rows = views.flatMap((v, gi) => {
      const group = input.groups[gi]!;
      // Without step rewards, the outcome reward is the single step ending at the last token,
      // which makes this estimator equal to outcome supervision.
      const steps: StepRewardAt[][] = v.scored.map((i, k) =>
        group.stepRewards ? [...(group.stepRewards[i] ?? [])] : [{ token: v.lengths[i]! - 1, reward: v.rewards[k]! }],
      );
      const pooled = steps.flatMap((s) => s.map((x) => x.reward));
      zeroStd.push(v.scored.length >= 2 && isZeroStd(pooled));
      const scoredRows = processAdvantages(
        steps,
        v.scored.map((i) => v.lengths[i]!),
        options,
      );
      const out = v.lengths.map((len) => new Array<number>(len).fill(0));
      v.scored.forEach((i, k) => (out[i] = scoredRows[k]!));
      return out;
    });
    return { advantages: rows, metrics: batchMetrics(views, rows, zeroStd) };
  },
};

/**
 * `grpo-batch` (TRL `scale_rewards="batch"`): (r − mean_g) / (std of all scored rewards of the
 * batch + eps). Groups of one follow `singleton` for the baseline (raw: baseline 0).
 */
export const grpoBatch: AdvantageEstimator = {
  name: 'grpo-batch',
  estimate(input: AdvantageInput): AdvantageBatch {
    const options = advantageOptions(input.options);
    const views = input.groups.map(view);
    const batchStd = groupStats(
      views.flatMap((v) => v.rewards),
      options.std,
    ).std;
    const denom = batchStd + options.eps;
    const rows = views.flatMap((v) => {
      const c = centered(v.rewards, options).map((x) => (denom === 0 ? 0 : x / denom));
      return outcomeRows(v, c);
    });
    return {
      advantages: rows,
      metrics: batchMetrics(
        views,
        rows,
        views.map((v) => isZeroStd(v.rewards)),
      ),
    };
  },
};

/**
 * `reinforce-plus-plus` (REINFORCE++ with a group baseline): r − mean_g broadcast to the tokens,
 * then whitened over all valid tokens of the batch, (x − mean) / sqrt(var + 1e-8), with the
 * variance kind of `options.std` (verl's `masked_whiten` uses the unbiased one).
 *
 * Tokens of unscored completions are not valid tokens. Groups whose advantage is 0 by rule —
 * all-equal groups when `zeroVarianceToZero`, groups of one under `singleton: 'zero'` — are
 * left out of the whitening statistics and keep 0 (so "all-equal group → 0" holds here too);
 * with `zeroVarianceToZero: false` and `singleton: 'raw'` this is exactly verl's estimator.
 */
export const reinforcePlusPlus: AdvantageEstimator = {
  name: 'reinforce-plus-plus',
  estimate(input: AdvantageInput): AdvantageBatch {
    const options = advantageOptions(input.options);
    const views = input.groups.map(view);
    const rows: number[][] = [];
    // Positions (row, token count) of the rows whose tokens enter the whitening.
    const whitened: number[] = [];
    for (const v of views) {
      const c = centered(v.rewards, options);
      const excluded = (v.scored.length === 1 && options.singleton === 'zero') || (isZeroStd(v.rewards) && options.zeroVarianceToZero);
      const groupRows = outcomeRows(v, c);
      const scored = new Set(v.scored);
      groupRows.forEach((row, i) => {
        if (!excluded && scored.has(i)) whitened.push(rows.length);
        rows.push(row);
      });
    }
    const flat = whitened.flatMap((r) => rows[r]!);
    const w = whiten(flat, { std: options.std, eps: 1e-8 });
    let k = 0;
    for (const r of whitened) {
      const row = rows[r]!;
      for (let t = 0; t < row.length; t++) row[t] = w[k++]!;
    }
    return {
      advantages: rows,
      metrics: batchMetrics(
        views,
        rows,
        views.map((v) => isZeroStd(v.rewards)),
      ),
    };
  },
};

/** Every estimator this plugin contributes, in registration order. */
export const advantageEstimators: readonly AdvantageEstimator[] = [grpoOutcome, grpoProcess, drGrpo, rloo, reinforcePlusPlus, grpoBatch, rft];
