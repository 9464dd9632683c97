import { AdvantageEstimator, assembleContainer, configSchema, selectNamed, type ScoredGroup } from '@grpo/core';
import grpo from '@grpo/plugin-grpo';
import { describe, expect, it } from 'vitest';
import medianBaseline, { median, medianBaselineEstimator } from '../src/median-baseline.js';

/** A scored group whose completions have the given token counts. */
function group(rewards: number[], lengths: number[], unscored: boolean[] = rewards.map(() => false)): ScoredGroup {
  return {
    row: { prompt: 'p' },
    promptIds: [1],
    completions: lengths.map((n) => ({ tokenIds: new Array<number>(n).fill(0), text: '', logprobs: new Array<number>(n).fill(0), finishReason: 'eos' })),
    rewards,
    rewardsByFunction: {},
    unscored,
  };
}

const options = { std: 'unbiased', eps: 1e-4, zeroVarianceToZero: true, singleton: 'zero' } as const;

describe('median-baseline', () => {
  it('median of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow();
  });

  it('advantage = reward − group median, on every token', () => {
    const { advantages, metrics } = medianBaselineEstimator.estimate({
      groups: [group([1, 0, 0, 1, 1], [2, 1, 1, 1, 3]), group([0, 1, 2, 3], [1, 1, 1, 2])],
      options,
    });
    expect(advantages).toEqual([[0, 0], [-1], [-1], [0], [0, 0, 0], [-1.5], [-0.5], [0.5], [1.5, 1.5]]);
    expect(metrics.frac_nonzero_advantage).toBeCloseTo(6 / 9, 12);
  });

  it('unscored completions get 0 and are left out of the median; a lone scored completion gets 0', () => {
    const { advantages } = medianBaselineEstimator.estimate({
      groups: [group([10, 0, 1, 5], [1, 1, 1, 1], [true, false, false, false]), group([7, 3], [1, 1], [false, true])],
      options,
    });
    expect(advantages).toEqual([[0], [-1], [0], [4], [0], [0]]);
  });

  it('the plugin makes the estimator selectable by name next to the built-in ones', async () => {
    const config = { ...configSchema.parse({ algorithm: { advantage: { estimator: 'median-baseline' } } }), plugins: [medianBaseline()], source: 'test' };
    const container = await assembleContainer({ config, defaults: [grpo()] });
    const chosen = selectNamed<AdvantageEstimator>(container, AdvantageEstimator, config.algorithm.advantage.estimator!, 'advantage estimator');
    expect(chosen).toBe(medianBaselineEstimator);
    expect(container.getAll<AdvantageEstimator>(AdvantageEstimator).map((e) => e.name)).toContain('grpo');
  });
});
