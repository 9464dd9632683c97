import { AdvantageEstimator, definePlugin, type AdvantageBatch, type AdvantageInput } from '@grpo/core';
import { broadcast } from '@grpo/plugin-grpo';

/** Median of a non-empty list (the mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of an empty list');
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Per-completion advantages of one group: r − median(r) over its scored completions; unscored ones and groups of one get 0. */
export function medianBaseline(rewards: readonly number[], unscored: readonly boolean[] = []): number[] {
  const scored = rewards.filter((_, i) => unscored[i] !== true);
  if (scored.length < 2) return rewards.map(() => 0);
  const m = median(scored);
  return rewards.map((r, i) => (unscored[i] === true ? 0 : r - m));
}

export const ESTIMATOR_NAME = 'median-baseline';

/**
 * An outcome-supervised estimator: each completion's advantage is its reward minus the median
 * reward of its group, on every token. The median is robust to one lucky (or broken) sample,
 * and, unlike GRPO's z-score, the scale of the rewards is kept (no division by the std).
 */
export const medianBaselineEstimator: AdvantageEstimator = {
  name: ESTIMATOR_NAME,
  estimate({ groups }: AdvantageInput): AdvantageBatch {
    const advantages: number[][] = [];
    let nonzero = 0;
    let total = 0;
    for (const group of groups) {
      const values = medianBaseline(group.rewards, group.unscored);
      advantages.push(
        ...broadcast(
          values,
          group.completions.map((c) => c.tokenIds.length),
        ),
      );
      nonzero += values.filter((v) => v !== 0).length;
      total += values.length;
    }
    return { advantages, metrics: { frac_nonzero_advantage: total === 0 ? 0 : nonzero / total } };
  },
};

/** The plugin: adds the estimator to core's `AdvantageEstimator` contribution point; `algorithm.advantage.estimator` picks it by name. */
export const medianBaselinePlugin = definePlugin({
  meta: { name: 'grpo-plugin-median-baseline', version: '0.1.0', core: '^0.1.0' },
  register: ({ bind }) => void bind<AdvantageEstimator>(AdvantageEstimator).toConstantValue(medianBaselineEstimator),
});

export default medianBaselinePlugin;
