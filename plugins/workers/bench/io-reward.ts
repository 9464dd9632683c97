/** The benchmark's reward: waits 100 ms per sample, one after another, standing in for a code sandbox or an LLM judge. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RewardFunction } from '@grpo/core';

export const MS_PER_SAMPLE = 100;

export const ioBoundReward: RewardFunction = {
  name: 'judge',
  score: async ({ completions, signal }) => {
    const scores: number[] = [];
    for (const c of completions) {
      await sleep(MS_PER_SAMPLE, undefined, { signal });
      scores.push(c.length % 2);
    }
    return scores;
  },
};
