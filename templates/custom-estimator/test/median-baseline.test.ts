import { Algorithm, AdvantageEstimator, type ScoredGroup } from '@grpo/core';
import { createTestContainer, EstimatorTester } from '@grpo/core/testing';
import grpo from '@grpo/plugin-grpo';
import { describe, expect, it } from 'vitest';
import medianBaseline, { median, medianBaselineEstimator } from '../src/median-baseline.js';

/** A scored group whose completions have the given token counts. */
function group(rewards: number[], lengths: number[], unscored: boolean[] = rewards.map(() => false)): ScoredGroup {
  return {
    row: { prompt: 'p' },
    prompt: 'p',
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

  it('passes the estimator table tests of the test kit', () => {
    new EstimatorTester(medianBaselineEstimator).assert([
      { name: 'odd group', groups: [{ rewards: [1, 0, 3], lengths: [2, 1, 1] }], expected: [0, -1, 2] },
      { name: 'a lone scored completion', groups: [{ rewards: [5, 1], unscored: [false, true] }], expected: [0, 0] },
    ]);
  });

  it('the plugin makes the estimator selectable by name next to the built-in ones', async () => {
    const container = await createTestContainer({
      plugins: [grpo(), medianBaseline()],
      config: { algorithm: { advantage: { estimator: 'median-baseline' } } },
    });
    expect(container.get<Algorithm>(Algorithm).estimator).toBe(medianBaselineEstimator);
    expect(container.getAll<AdvantageEstimator>(AdvantageEstimator).map((e) => e.name)).toContain('grpo');
  });
});
