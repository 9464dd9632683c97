import { ConfigError, RewardFunction } from '@grpo/core';
import { createTestContainer, RewardAssertionError, RewardTester, testConfig } from '@grpo/core/testing';
import { describe, expect, it } from 'vitest';
import conciseAnswer, { conciseAnswerReward } from '../src/concise-answer.js';

const tester = new RewardTester(conciseAnswerReward({ maxChars: 20, falloff: 10 }), { tolerance: 1e-12 });

describe('concise_answer', () => {
  it('scores a table of completions', async () => {
    await tester.assert([
      { name: 'short, with an answer line', completion: '3+4=7\n#### 7', expected: 1 },
      { name: 'negative answers count', completion: '3-4=-1\n#### -1', expected: 1 },
      { name: 'trailing newline ignored', completion: '#### 12\n', expected: 1 },
      { name: 'exactly maxChars', completion: `${'1+1=2\n'.repeat(2)}#### 12345`.slice(0, 20), expected: 1 },
      { name: '5 characters over: half', completion: `${'x'.repeat(17)}\n#### 12345`.slice(0, 25), expected: 0.5 },
      { name: 'falloff used up: 0', completion: `${'x'.repeat(40)}\n#### 1`, expected: 0 },
      { name: 'no answer line', completion: '3+4=7', expected: 0 },
      { name: 'answer not on its own line', completion: 'so #### 7', expected: 0 },
      { name: 'not a number', completion: '#### seven', expected: 0 },
    ]);
  });

  it('fails loudly when a case does not hold', async () => {
    await expect(tester.assert([{ completion: '#### 7', expected: 0 }])).rejects.toBeInstanceOf(RewardAssertionError);
  });

  it('rejects nonsense options, with the config problems', async () => {
    expect(() => conciseAnswerReward({ falloff: 0 })).toThrow(/falloff > 0/);
    await expect(testConfig({}, [conciseAnswer({ falloff: 0 })])).rejects.toThrow(ConfigError);
  });

  it('the plugin binds the reward to RewardFunction next to the others', async () => {
    const container = await createTestContainer({ plugins: [conciseAnswer({ maxChars: 8, falloff: 4 })] });
    const rewards = container.getAll<RewardFunction>(RewardFunction);
    expect(rewards.map((r) => r.name)).toEqual(['concise_answer']);
    const input = {
      prompts: ['', ''],
      completions: ['#### 1', '1+1=2\n#### 2'],
      completionIds: [[], []],
      finishReasons: ['eos', 'eos'] as const,
      rows: [{ prompt: '' }, { prompt: '' }],
    };
    // The options reach the bound reward: the second completion is 12 characters, 4 over maxChars, so 1 − 4/4 = 0.
    expect(await rewards[0]!.score(input)).toEqual([1, 0]);
  });
});
