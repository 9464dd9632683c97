import { describe, expect, it } from 'vitest';
import { accuracyReward, RewardAssertionError, RewardTester } from '../src/index.js';

describe('RewardTester', () => {
  const tester = new RewardTester(accuracyReward());
  it('reports pass and fail per case with a summary', async () => {
    const report = await tester.run([
      { name: 'right', completion: '\\boxed{2}', row: { answer: '2' }, expected: 1 },
      { name: 'wrong expectation', completion: '\\boxed{3}', row: { answer: '2' }, expected: 1 },
      { name: 'missing field', completion: '\\boxed{3}', expected: 0 },
    ]);
    expect(report.total).toBe(3);
    expect(report.passed).toBe(1);
    expect(report.results.map((r) => r.pass)).toEqual([true, false, false]);
    expect(report.results[1]!.actual).toBe(0);
    expect(report.results[2]!.error).toMatch(/answer/);
    expect(report.summary).toContain('accuracy: 1/3 cases pass');
    expect(report.summary).toContain('✗ wrong expectation: expected 1, got 0');
  });
  it('assert throws a readable error listing failures', async () => {
    await expect(tester.assert([{ completion: '1', row: { answer: '2' }, expected: 1 }])).rejects.toThrow(RewardAssertionError);
    await expect(tester.assert([{ completion: '2', row: { answer: '2' }, expected: 1 }])).resolves.toMatchObject({ failed: 0 });
  });
});
