import type { RewardFunction } from '@grpo/core';
import { describe, expect, it } from 'vitest';
import { RewardTester } from '@grpo/core/testing';
import { formatReward, reasoningStepsReward, tagCountReward } from '../src/index.js';
import { readJson, type FormatCase } from './data.js';

const cases = readJson<FormatCase[]>('math-answers', 'format-cases.json');

const REWARDS: Record<string, RewardFunction> = {
  'openr1.format_reward': formatReward({ style: 'think-answer' }),
  'trl.think_format_reward': formatReward({ style: 'think' }),
  'openr1.tag_count_reward': tagCountReward(),
  'openr1.reasoning_steps_reward': reasoningStepsReward(),
};

describe('format-cases.json', () => {
  it('names only rewards we provide', () => {
    expect(cases).toHaveLength(38);
    expect([...new Set(cases.map((c) => c.reward))].filter((r) => !(r in REWARDS))).toEqual([]);
  });
  for (const [name, reward] of Object.entries(REWARDS)) {
    it(`reproduces every expected ${name} reward`, async () => {
      const table = cases.filter((c) => c.reward === name).map((c) => ({ name: c.origin, completion: c.completion, expected: c.expected, tolerance: 1e-12 }));
      expect(table.length).toBeGreaterThan(0);
      const report = await new RewardTester(reward).assert(table);
      expect(report.passed).toBe(table.length);
    });
  }
});
