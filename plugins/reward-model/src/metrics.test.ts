import { describe, expect, it } from 'vitest';
import { binaryAccuracy, firstWrongStep, pairwiseAccuracy, rocAuc, sigmoid } from './metrics.js';
import { splitSteps } from './steps.js';

describe('metrics', () => {
  it('AUC by ranking matches the textbook example and counts ties as one half', () => {
    // sklearn's roc_auc_score example: 3 of the 4 positive/negative pairs are ordered right.
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.75, 12);
    expect(rocAuc([0.5, 0.5, 0.9], [1, 0, 1])).toBeCloseTo(0.75, 12); // pairs: (0.5 vs 0.5) ½, (0.9 vs 0.5) 1
    expect(rocAuc([3, 2, 1], [0, 0, 0])).toBeNaN();
  });

  it('accuracy, pairwise accuracy, first wrong step, sigmoid', () => {
    expect(binaryAccuracy([0.9, 0.2, 0.6, 0.4], [1, 0, 0, 0])).toBeCloseTo(0.75, 12);
    expect(pairwiseAccuracy([1, 2, 3], [0, 3, 3])).toBeCloseTo(0.5, 12);
    expect(firstWrongStep([0.9, 0.8, 0.1, 0.9])).toBe(2);
    expect(firstWrongStep([1, 1])).toBe(-1);
    expect(sigmoid(0)).toBe(0.5);
    expect(sigmoid(-800)).toBe(0);
    expect(sigmoid(2)).toBeCloseTo(0.8807970779778823, 12);
  });
});

describe('splitSteps', () => {
  it('ends each non-blank line where the math task puts its step rewards', () => {
    const solution = '3+4=7\n\n7-2=5\n#### 5';
    expect(splitSteps(solution)).toEqual([5, 12, 19]);
    expect(splitSteps(solution, { stopAt: '####' })).toEqual([5, 12]);
    // (the math task's own `judgeSteps` ends agree: test/integration/reward-model-math-task.test.ts)
    expect(splitSteps('a; b;c', { separator: ';' })).toEqual([1, 4, 6]);
    expect(splitSteps('')).toEqual([]);
  });
});
