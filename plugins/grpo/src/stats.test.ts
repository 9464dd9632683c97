import { describe, expect, it } from 'vitest';
import { expectClose } from '../test/helpers.js';
import { allEqual, mean, std } from '@grpo/core';
import { broadcast, centered, leaveOneOut, processAdvantages, stepReturns, whiten, zScore } from './stats.js';

// algorithms.md §1 worked example: rewards [1, 0, 0, 1], mean 0.5, unbiased std 0.57735, biased std 0.5.
const R = [1, 0, 0, 1];

describe('mean / std', () => {
  it('reproduces the worked example statistics', () => {
    expect(mean(R)).toBe(0.5);
    expect(std(R, 'unbiased')).toBeCloseTo(0.57735, 5);
    expect(std(R, 'biased')).toBeCloseTo(0.5, 10);
    expect(std(R)).toBeCloseTo(0.57735, 5); // unbiased by default
  });
  it('gives 0 for fewer than two values and for equal values', () => {
    expect(std([], 'unbiased')).toBe(0);
    expect(std([3], 'unbiased')).toBe(0);
    expect(std([0.1, 0.1, 0.1], 'unbiased')).toBe(0);
    expect(mean([])).toBe(0);
    expect(allEqual([0.1, 0.1])).toBe(true);
    expect(allEqual([0.1, 0.2])).toBe(false);
  });
});

describe('zScore (GRPO outcome supervision)', () => {
  it('reproduces algorithms.md §1', () => {
    const c = 0.865875;
    expectClose(zScore(R, { std: 'unbiased', eps: 1e-4 }), [c, -c, -c, c]);
    const d = 0.866024;
    expectClose(zScore(R, { std: 'unbiased', eps: 1e-6 }), [d, -d, -d, d]);
    expectClose(zScore(R, { std: 'biased', eps: 0 }), [1, -1, -1, 1]);
  });
  it('uses the config defaults (unbiased, eps 1e-4) when options are left out', () => {
    expectClose(zScore(R), [0.865875, -0.865875, -0.865875, 0.865875]);
  });
  it('gives 0 for an all-equal group, never NaN, even with eps 0 and without zeroVarianceToZero', () => {
    expect(zScore([1, 1, 1, 1])).toEqual([0, 0, 0, 0]);
    expect(zScore([0.1, 0.1, 0.1], { eps: 0 })).toEqual([0, 0, 0]);
    expect(zScore([0.1, 0.1, 0.1], { eps: 0, zeroVarianceToZero: false })).toEqual([0, 0, 0]);
    expect(zScore([0.1, 0.1, 0.1], { eps: 1e-4, zeroVarianceToZero: false })).toEqual([0, 0, 0]);
  });
  it('follows the singleton rule for a group of one', () => {
    expect(zScore([0.7], { singleton: 'zero' })).toEqual([0]);
    expect(zScore([0.7], { singleton: 'raw' })).toEqual([0.7]);
    expect(zScore([])).toEqual([]);
  });
});

describe('centered (Dr. GRPO) and leaveOneOut (RLOO)', () => {
  it('reproduces algorithms.md §1', () => {
    expectClose(centered(R), [0.5, -0.5, -0.5, 0.5]);
    expectClose(leaveOneOut(R), [0.666667, -0.666667, -0.666667, 0.666667]);
  });
  it('RLOO on [1, 0, 0]: 1 − 0 and 0 − (1 + 0)/2', () => {
    expectClose(leaveOneOut([1, 0, 0]), [1, -0.5, -0.5]);
  });
  it('all-equal → 0; groups of one follow the singleton rule', () => {
    expect(centered([2, 2, 2])).toEqual([0, 0, 0]);
    expect(leaveOneOut([2, 2, 2])).toEqual([0, 0, 0]);
    expect(centered([0.7])).toEqual([0]);
    expect(centered([0.7], { singleton: 'raw' })).toEqual([0.7]);
    expect(leaveOneOut([0.7])).toEqual([0]);
    expect(leaveOneOut([0.7], { singleton: 'raw' })).toEqual([0.7]);
  });
});

describe('whiten', () => {
  it('(x − mean)/sqrt(var + 1e-8) by hand', () => {
    // [0.5, −0.5, −0.5, −0.5]: mean −0.25, deviations 0.75, −0.25 ×3, Σd² = 0.75,
    // unbiased var 0.25 → [1.5, −0.5, −0.5, −0.5]; biased var 0.1875 → 0.75/0.4330127 = 1.732051.
    expectClose(whiten([0.5, -0.5, -0.5, -0.5]), [1.5, -0.5, -0.5, -0.5]);
    expectClose(whiten([0.5, -0.5, -0.5, -0.5], { std: 'biased' }), [1.732051, -0.57735, -0.57735, -0.57735]);
  });
  it('is 0 (not NaN) for constant or single values', () => {
    expect(whiten([3, 3, 3])).toEqual([0, 0, 0]);
    expect(whiten([3])).toEqual([0]);
    expect(whiten([])).toEqual([]);
  });
});

describe('broadcast, stepReturns, processAdvantages', () => {
  it('broadcasts one value per completion to its tokens', () => {
    expect(broadcast([1, -2], [3, 0])).toEqual([[1, 1, 1], []]);
  });
  it('sums the steps ending at or after each token', () => {
    // Steps end at tokens 1 (+2) and 3 (−1): t0,t1 see both (1), t2,t3 see only −1, t4 none.
    expect(
      stepReturns(
        [
          { token: 1, reward: 2 },
          { token: 3, reward: -1 },
        ],
        5,
      ),
    ).toEqual([1, 1, -1, -1, 0]);
    // A step ending beyond the completion counts for every token.
    expect(stepReturns([{ token: 9, reward: 2 }], 2)).toEqual([2, 2]);
  });
  it('normalises with the statistics of all step rewards of the group (hand-worked)', () => {
    // Pooled step rewards [1, 0, 0, 1]: biased std 0.5, mean 0.5, so normalised ±1.
    // Completion 0 (5 tokens): +1 at token 1, −1 at token 4 → [0, 0, −1, −1, −1].
    // Completion 1 (3 tokens): −1 at token 0, +1 at token 2 → [0, 1, 1].
    const steps = [
      [
        { token: 1, reward: 1 },
        { token: 4, reward: 0 },
      ],
      [
        { token: 0, reward: 0 },
        { token: 2, reward: 1 },
      ],
    ];
    expectClose(processAdvantages(steps, [5, 3], { std: 'biased', eps: 0 }), [
      [0, 0, -1, -1, -1],
      [0, 1, 1],
    ]);
    const c = 0.865875; // unbiased, eps 1e-4 (as in §1)
    expectClose(processAdvantages(steps, [5, 3]), [
      [0, 0, -c, -c, -c],
      [0, c, c],
    ]);
  });
  it('a less symmetric example: three pooled step rewards', () => {
    // Pooled [1, 0, 0.5]: mean 0.5, biased var (0.25 + 0.25 + 0)/3 = 1/6, std 0.4082483;
    // normalised 1 → 1.2247449, 0 → −1.2247449, 0.5 → 0.
    // Completion 0 (2 tokens): 1 at token 1 → [1.2247449, 1.2247449].
    // Completion 1 (4 tokens): 0 at token 1, 0.5 at token 3 → [−1.2247449, −1.2247449, 0, 0].
    const steps = [
      [{ token: 1, reward: 1 }],
      [
        { token: 1, reward: 0 },
        { token: 3, reward: 0.5 },
      ],
    ];
    const a = 1.2247449;
    expectClose(processAdvantages(steps, [2, 4], { std: 'biased', eps: 0 }), [
      [a, a],
      [-a, -a, 0, 0],
    ]);
  });
  it('all-equal step rewards, a single step, and groups of one', () => {
    const eq = [[{ token: 0, reward: 1 }], [{ token: 1, reward: 1 }]];
    expect(processAdvantages(eq, [2, 2])).toEqual([
      [0, 0],
      [0, 0],
    ]);
    expect(processAdvantages([[{ token: 0, reward: 1 }], []], [2, 1])).toEqual([[0, 0], [0]]);
    const one = [
      [
        { token: 0, reward: 0.5 },
        { token: 2, reward: -1 },
      ],
    ];
    expect(processAdvantages(one, [3], { singleton: 'zero' })).toEqual([[0, 0, 0]]);
    expect(processAdvantages(one, [3], { singleton: 'raw' })).toEqual([[-0.5, -1, -1]]);
  });
});
