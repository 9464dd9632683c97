import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RewardError, runRewards, rewardInput, type RewardFunction, type Rollout, type ScoringRequest } from '@grpo/core';
import { RedisRewardScorer, RedisUnavailableError, startRewardWorker, workersSchema, type RunningWorker } from '../src/index.js';
import { freePort, startRedis, type RedisServer } from './redis-server.js';

const rollouts: Rollout[] = ['b', 'cd', 'dbc'].map((prompt, i) => ({
  row: { prompt, answer: String(i) },
  prompt,
  promptIds: [...prompt].map((c) => c.charCodeAt(0)),
  completions: ['aab', 'ba', 'cccc', ''].map((text) => ({ text, tokenIds: [...text].map((c) => c.charCodeAt(0)), logprobs: [], finishReason: 'eos' as const })),
}));

const shareOfA: RewardFunction = {
  name: 'share_of_a',
  score: ({ completions }) => completions.map((c) => (c.length ? [...c].filter((ch) => ch === 'a').length / c.length : null)),
};
const length: RewardFunction = { name: 'length', score: async ({ completions }) => completions.map((c) => c.length) };
const picky: RewardFunction = {
  name: 'picky',
  score: ({ completions }) =>
    completions.map((c) => {
      if (c === 'cccc') throw new Error('no c please');
      return 1;
    }),
};

const request = (functions: RewardFunction[], onError: 'raise' | 'penalty' = 'raise', step = 0): ScoringRequest => ({
  rollouts,
  functions,
  options: { timeoutMs: 5000, onError, penalty: -1 },
  step,
  round: 0,
});

describe('reward workers on a real Redis', () => {
  let redis: RedisServer;
  let running: RunningWorker[] = [];
  const workers = workersSchema.parse({ rewards: true, queue: 'unit', lockMs: 1000, backoffMs: 50 });
  beforeAll(async () => {
    redis = await startRedis();
    running = await Promise.all([0, 1].map(() => startRewardWorker({ url: redis.url, workers, rewards: [shareOfA, length, picky] })));
  });
  afterAll(async () => {
    await Promise.all(running.map((w) => w.close()));
    await redis?.stop();
  });

  it('gives each reward the results the in-process path gives', async () => {
    const scorer = new RedisRewardScorer({ url: redis.url, workers });
    try {
      const remote = await scorer.score(request([shareOfA, length]));
      const local = await runRewards(rewardInput(rollouts), [shareOfA, length], { timeoutMs: 5000, onError: 'raise', penalty: -1 });
      expect(remote).toEqual(local);
      // Worked values: 'aab' → 2/3, 'ba' → 1/2, 'cccc' → 0, '' → null (not applicable).
      expect(remote[0]!.scores.slice(0, 4).map((s) => s.score)).toEqual([2 / 3, 1 / 2, 0, null]);
      expect(remote[1]!.scores.map((s) => s.score)).toEqual([3, 2, 4, 0, 3, 2, 4, 0, 3, 2, 4, 0]);
    } finally {
      await scorer.close();
    }
  });

  it('follows the fault policy: raise names the reward and the sample, penalty scores and counts', async () => {
    const scorer = new RedisRewardScorer({ url: redis.url, workers });
    try {
      await expect(scorer.score(request([picky], 'raise', 1))).rejects.toThrow(RewardError);
      await expect(scorer.score(request([picky], 'raise', 1))).rejects.toThrow(
        /Reward 'picky' threw on sample 2 \(prompt "b", completion "cccc"\): no c please/,
      );
      const [result] = await scorer.score(request([picky], 'penalty', 2));
      expect(result!.errors).toBe(3);
      expect(result!.scores.map((s) => s.score)).toEqual([1, 1, -1, 1, 1, 1, -1, 1, 1, 1, -1, 1]);
    } finally {
      await scorer.close();
    }
  });

  it('says which reward a worker lacks', async () => {
    const scorer = new RedisRewardScorer({ url: redis.url, workers });
    const other: RewardFunction = { name: 'other', score: ({ completions }) => completions.map(() => 0) };
    try {
      await expect(scorer.score(request([other], 'penalty', 3))).rejects.toThrow(
        /has no reward function named 'other' \(it has 'share_of_a', 'length', 'picky'\)/,
      );
    } finally {
      await scorer.close();
    }
  });

  it('names the URL and the fix when Redis is not there', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const scorer = new RedisRewardScorer({ url, workers });
    const error = await scorer.score(request([length])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RedisUnavailableError);
    expect((error as Error).message).toContain(`cannot reach Redis at ${url}`);
    expect((error as Error).message).toMatch(/redis-server --port \d+.*workers\.redis.*GRPO_REDIS_URL/);
    await expect(startRewardWorker({ url, workers, rewards: [length] })).rejects.toThrow(`cannot reach Redis at ${url}`);
  });
});
