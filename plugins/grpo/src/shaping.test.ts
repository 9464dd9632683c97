import { describe, expect, it } from 'vitest';
import type { FrozenPolicy, Policy, ScoredGroup } from '@grpo/core';
import { dynamicSampling, hasRewardVariance, maskTruncated, overlongPenalty, overlongShaping, referenceSchedule } from './shaping.js';

const completion = (n: number, finishReason: 'eos' | 'length' = 'length') => ({ tokenIds: Array<number>(n).fill(1), text: '', logprobs: [], finishReason });
const group = (rewards: number[], lengths = rewards.map(() => 1), unscored = rewards.map(() => false)): ScoredGroup => ({
  row: { prompt: '' },
  prompt: '',
  promptIds: [],
  completions: lengths.map((n) => completion(n)),
  rewards,
  rewardsByFunction: {},
  unscored,
});

describe('DAPO shaping', () => {
  it('reproduces the overlong penalty worked numbers (L_max 20480, L_buf 4096)', () => {
    expect(overlongPenalty(16384, 20480, 4096, 1)).toBe(0);
    expect(overlongPenalty(18432, 20480, 4096, 1)).toBe(-0.5);
    expect(overlongPenalty(20480, 20480, 4096, 1)).toBe(-1);
    expect(overlongPenalty(100, 20480, 4096, 1)).toBe(0);
  });

  it('adds the penalty to each completion reward, in new records', () => {
    const g = group([1, 1], [4, 8]);
    const { groups, metrics } = overlongShaping({ buffer: 4, factor: 1 }).shape([g], { maxNewTokens: 8 });
    expect(groups[0]!.rewards).toEqual([1, 0]);
    expect(metrics).toEqual({ 'rewards/overlong_penalty/mean': -0.5 });
    expect(g.rewards).toEqual([1, 1]);
  });

  it('keeps only groups whose rewards differ (dynamic sampling)', () => {
    expect(hasRewardVariance(group([1, 1, 1]))).toBe(false);
    expect(hasRewardVariance(group([0, 0, 1]))).toBe(true);
    expect(hasRewardVariance(group([1, 0], [1, 1], [false, true]))).toBe(false);
    const filter = dynamicSampling({ maxRounds: 3 });
    expect(filter).toMatchObject({ name: 'dynamic_sampling', refillRounds: 3 });
    expect(filter.keep(group([0, 1]))).toBe(true);
  });

  it('masks truncated completions after the reward shapers', () => {
    const g: ScoredGroup = { ...group([1, 0]), completions: [completion(2, 'eos'), completion(3, 'length')] };
    expect(maskTruncated.shape([g], { maxNewTokens: 3 }).groups[0]!.masked).toEqual([false, true]);
    expect(maskTruncated.order).toBeGreaterThan(0);
  });
});

describe('referenceSchedule', () => {
  /** Records what the schedule does to π_ref after each step. */
  const run = (options: Parameters<typeof referenceSchedule>[0], steps: number) => {
    const log: string[] = [];
    const reference = { syncFrom: (_: Policy, alpha?: number) => void log.push(alpha === undefined ? 'reset' : `mix ${alpha}`) } as FrozenPolicy;
    const schedule = referenceSchedule(options);
    for (let step = 0; step < steps; step++) {
      const before = log.length;
      schedule.afterUpdate({ step, policy: {} as Policy, reference });
      if (log.length === before) log.push('-');
    }
    return log;
  };

  it("resets π_ref every refResetEvery steps (DeepSeekMath's iterative scheme)", () => {
    expect(run({ refResetEvery: 2, trDpoTau: 512 }, 5)).toEqual(['-', 'reset', '-', 'reset', '-']);
    expect(run({ refResetEvery: 0, trDpoTau: 512 }, 3)).toEqual(['-', '-', '-']);
  });

  it('mixes every τ steps with TR-DPO, and resets on the other reset steps', () => {
    expect(run({ refResetEvery: 2, trDpoAlpha: 0.5, trDpoTau: 3 }, 6)).toEqual(['-', 'reset', 'mix 0.5', 'reset', '-', 'mix 0.5']);
  });
});
