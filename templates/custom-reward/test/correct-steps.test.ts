import { ConfigError, RewardFunction } from '@grpo/core';
import { createTestContainer, RewardAssertionError, RewardTester, testConfig } from '@grpo/core/testing';
import { describe, expect, it } from 'vitest';
import correctSteps, { correctStepsReward, stepHolds } from '../src/correct-steps.js';

const tester = new RewardTester(correctStepsReward(), { tolerance: 1e-12 });

describe('correct_steps', () => {
  it('scores a table of completions', async () => {
    await tester.assert([
      { name: 'every step right', completion: '18+42=60\n60-53=7\n#### 7', expected: 1 },
      { name: 'one of two steps wrong', completion: '18+42=60\n60-53=8\n#### 8', expected: 0.5 },
      { name: 'a line that is no step counts as wrong', completion: 'hmm\n2*3=6\n#### 6', expected: 0.5 },
      { name: 'spaces and negative numbers', completion: '3 - 4 = -1\n#### -1', expected: 1 },
      { name: 'without an answer line every line counts', completion: '1+1=2\n2+2=5', expected: 0.5 },
      { name: 'nothing after the answer line counts', completion: '1+1=2\n#### 2\n9+9=1', expected: 1 },
      { name: 'no steps at all', completion: '#### 7', expected: 0 },
      { name: 'empty', completion: '', expected: 0 },
    ]);
  });

  it('checks the arithmetic of a step', () => {
    expect(stepHolds('7*3=21')).toBe(true);
    expect(stepHolds('7*3=24')).toBe(false);
    expect(stepHolds('#### 21')).toBeUndefined();
  });

  it('fails loudly when a case does not hold', async () => {
    await expect(tester.assert([{ completion: '1+1=2', expected: 0 }])).rejects.toBeInstanceOf(RewardAssertionError);
  });

  it('rejects nonsense options, with the config problems', async () => {
    expect(() => correctStepsReward({ wrongStep: Number.NaN })).toThrow(/finite wrongStep/);
    await expect(testConfig({}, [correctSteps({ name: '' })])).rejects.toThrow(ConfigError);
  });

  it('the plugin binds the reward to RewardFunction next to the others', async () => {
    const container = await createTestContainer({ plugins: [correctSteps({ wrongStep: -1 })] });
    const rewards = container.getAll<RewardFunction>(RewardFunction);
    expect(rewards.map((r) => r.name)).toEqual(['correct_steps']);
    const input = {
      prompts: ['', ''],
      completions: ['1+1=2\n#### 2', '1+1=3\n#### 3'],
      completionIds: [[], []],
      finishReasons: ['eos', 'eos'] as const,
      rows: [{ prompt: '' }, { prompt: '' }],
    };
    // The options reach the bound reward: a wrong step scores wrongStep.
    expect(await rewards[0]!.score(input)).toEqual([1, -1]);
  });
});
