import { expect } from 'vitest';
import type { FinishReason, ScoredGroup } from '@grpo/core';

/** A scored group with completions of the given token counts. */
export function group(rewards: number[], lengths: number[], extra: { unscored?: boolean[]; finish?: FinishReason[] } = {}): ScoredGroup {
  return {
    row: { prompt: 'q' },
    prompt: 'q',
    promptIds: [1, 2],
    completions: lengths.map((len, i) => ({
      tokenIds: Array.from({ length: len }, (_, t) => t + 3),
      text: 'x'.repeat(len),
      logprobs: new Array<number>(len).fill(-1),
      finishReason: extra.finish?.[i] ?? 'eos',
    })),
    rewards,
    rewardsByFunction: { r: rewards },
    unscored: extra.unscored ?? rewards.map(() => false),
  };
}

/** Element-wise closeness of (nested) number arrays. */
export function expectClose(actual: readonly (number | readonly number[])[], expected: readonly (number | readonly number[])[], tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    if (typeof a === 'number' || typeof e === 'number') {
      expect(Math.abs((a as number) - (e as number)), `index ${i}: ${String(a)} vs ${String(e)}`).toBeLessThan(tol);
    } else expectClose(a, e, tol);
  });
}
