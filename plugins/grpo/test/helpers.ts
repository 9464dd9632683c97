import { expect } from 'vitest';
import type { ScoredGroup, TokenStepReward } from '@grpo/core';

/** A scored group with completions of the given token counts. */
export function group(rewards: number[], lengths: number[], extra: { unscored?: boolean[]; stepRewards?: TokenStepReward[][] } = {}): ScoredGroup {
  return {
    row: { prompt: 'q' },
    prompt: 'q',
    promptIds: [1, 2],
    completions: lengths.map((len) => ({
      tokenIds: Array.from({ length: len }, (_, i) => i + 3),
      text: 'x'.repeat(len),
      logprobs: new Array<number>(len).fill(-1),
      finishReason: 'eos' as const,
    })),
    rewards,
    rewardsByFunction: { r: rewards },
    unscored: extra.unscored ?? rewards.map(() => false),
    ...(extra.stepRewards ? { stepRewards: extra.stepRewards } : {}),
  };
}

/** Element-wise closeness of (nested) number arrays. */
export function expectClose(
  actual: readonly number[] | readonly (readonly number[])[],
  expected: readonly number[] | readonly (readonly number[])[],
  tol = 1e-5,
): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    if (Array.isArray(a)) expectClose(a as number[], e as number[], tol);
    else {
      expect(Number.isNaN(a)).toBe(false);
      expect(Math.abs((a as number) - (e as number)), `index ${i}: ${String(a)} vs ${String(e)}`).toBeLessThanOrEqual(tol);
    }
  });
}

/** A deterministic pseudo-random stream in [0, 1) (LCG), for test data. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
