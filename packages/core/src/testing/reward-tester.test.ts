import { describe, expect, it } from 'vitest';
import type { RewardFunction } from '../contracts/reward.js';
import { RewardAssertionError, RewardTester } from './reward-tester.js';

/** 1 when the completion is the row's answer, 0 otherwise; throws without an answer; NaN for "nan". */
const exact: RewardFunction = {
  name: 'exact',
  score: ({ completions, rows }) =>
    completions.map((c, i) => {
      const answer = rows[i]!.answer;
      if (typeof answer !== 'string') throw new Error('the row has no answer');
      return c === 'nan' ? Number.NaN : c === answer ? 1 : 0;
    }),
};

describe('RewardTester', () => {
  const tester = new RewardTester(exact);
  it('reports pass and fail per case with a summary', async () => {
    const report = await tester.run([
      { name: 'right', completion: '2', row: { answer: '2' }, expected: 1 },
      { name: 'wrong expectation', completion: '3', row: { answer: '2' }, expected: 1 },
      { name: 'missing field', completion: '3', expected: 0 },
    ]);
    expect(report.total).toBe(3);
    expect(report.passed).toBe(1);
    expect(report.results.map((r) => r.pass)).toEqual([true, false, false]);
    expect(report.results[1]!.actual).toBe(0);
    expect(report.results[2]!.error).toMatch(/answer/);
    expect(report.summary).toContain('exact: 1/3 cases pass');
    expect(report.summary).toContain('✗ wrong expectation: expected 1, got 0');
  });

  it('fails a case the trainer would refuse, with the trainer message', async () => {
    const report = await tester.run([{ name: 'not finite', completion: 'nan', row: { answer: '2' }, expected: 0 }]);
    expect(report.results[0]!.error).toMatch(/Reward 'exact' returned NaN for sample 0/);
  });

  it('assert throws a readable error listing failures', async () => {
    await expect(tester.assert([{ completion: '1', row: { answer: '2' }, expected: 1 }])).rejects.toThrow(RewardAssertionError);
    await expect(tester.assert([{ completion: '2', row: { answer: '2' }, expected: 1 }])).resolves.toMatchObject({ failed: 0 });
  });
});
