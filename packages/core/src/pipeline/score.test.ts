import { describe, expect, it } from 'vitest';
import type { RewardFunction } from '../contracts/reward.js';
import { RewardError } from '../errors.js';
import type { Rollout } from '../records.js';
import type { Tokenizer } from '../contracts/tokenizer.js';
import { charToToken } from '../util/text.js';
import { scoreRollouts, type RewardRunOptions } from './score.js';

const completion = (text: string) => ({
  tokenIds: [...text].map((c) => c.charCodeAt(0)),
  text,
  logprobs: [...text].map(() => -1),
  finishReason: 'eos' as const,
});
const rollouts: Rollout[] = [
  { row: { prompt: '1+1=', answer: '2' }, prompt: '1+1=', promptIds: [1], completions: [completion('2'), completion('3')] },
  { row: { prompt: '2+2=', answer: '4' }, prompt: '2+2=', promptIds: [1], completions: [completion('4'), completion('4')] },
];
const options: RewardRunOptions = { weights: {}, timeoutMs: 200, onError: 'raise', penalty: -1 };

const exact: RewardFunction = {
  name: 'accuracy',
  score: ({ completions, rows }) => completions.map((c, i) => (c === rows[i]!.answer ? 1 : 0)),
};

describe('scoreRollouts', () => {
  it('combines weighted rewards, skips nulls, and reports per-reward metrics', async () => {
    const onlyFirstGroup: RewardFunction = { name: 'bonus', score: async ({ rows }) => rows.map((r) => (r.prompt === '1+1=' ? 0.5 : null)) };
    const { groups, metrics } = await scoreRollouts(rollouts, [exact, onlyFirstGroup], { ...options, weights: { accuracy: 2 } });
    // accuracy [1, 0, 1, 1] × 2, bonus 0.5 on the first group only.
    expect(groups[0]!.rewards).toEqual([2.5, 0.5]);
    expect(groups[1]!.rewards).toEqual([2, 2]);
    expect(groups[1]!.rewardsByFunction.bonus).toEqual([null, null]);
    expect(metrics['rewards/accuracy/mean']).toBeCloseTo(0.75);
    expect(metrics['rewards/bonus/mean']).toBeCloseTo(0.5);
    expect(metrics.reward).toBeCloseTo((2.5 + 0.5 + 2 + 2) / 4);
    // Group stds (unbiased): group 1 √2, group 2 0 → mean √2/2; one of two groups has zero std.
    expect(metrics.reward_std).toBeCloseTo(Math.SQRT2 / 2);
    expect(metrics.frac_reward_zero_std).toBe(0.5);
  });

  it('marks samples that no reward applies to as unscored, with reward 0', async () => {
    const never: RewardFunction = { name: 'never', score: ({ completions }) => completions.map(() => null) };
    const { groups, metrics } = await scoreRollouts(rollouts, [never], options);
    expect(groups.flatMap((g) => g.unscored)).toEqual([true, true, true, true]);
    expect(groups.flatMap((g) => g.rewards)).toEqual([0, 0, 0, 0]);
    expect(metrics['rewards/unscored_frac']).toBe(1);
  });

  it('runs async rewards concurrently', async () => {
    let running = 0;
    let peak = 0;
    const slow = (name: string): RewardFunction => ({
      name,
      score: async ({ completions }) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 30));
        running--;
        return completions.map(() => 1);
      },
    });
    await scoreRollouts(rollouts, [slow('a'), slow('b'), slow('c')], options);
    expect(peak).toBe(3);
  });

  it('names the reward and the sample when a reward throws on one sample', async () => {
    const fragile: RewardFunction = {
      name: 'fragile',
      score: ({ completions }) =>
        completions.map((c) => {
          if (c === '3') throw new Error('cannot parse "3"');
          return 1;
        }),
    };
    await expect(scoreRollouts(rollouts, [fragile], options)).rejects.toThrow(
      /Reward 'fragile' threw on sample 1 \(prompt "1\+1=", completion "3"\): cannot parse "3"/,
    );
  });

  it('names the reward and sample for NaN, Infinity and malformed scores', async () => {
    const nan: RewardFunction = { name: 'nan', score: ({ completions }) => completions.map((_, i) => (i === 2 ? Number.NaN : 0)) };
    await expect(scoreRollouts(rollouts, [nan], options)).rejects.toThrow(/Reward 'nan' returned NaN for sample 2 \(prompt "2\+2="/);
    const inf: RewardFunction = { name: 'inf', score: ({ completions }) => completions.map(() => Infinity) };
    await expect(scoreRollouts(rollouts, [inf], options)).rejects.toThrow(/Reward 'inf' returned Infinity for sample 0/);
    const steps: RewardFunction = { name: 'steps', score: ({ completions }) => completions.map(() => ({ score: 1, steps: [{ endChar: 99, reward: 1 }] })) };
    await expect(scoreRollouts(rollouts, [steps], options)).rejects.toThrow(/step 0 ending at character 99, outside the completion/);
  });

  it('rejects the wrong number of scores', async () => {
    const short: RewardFunction = { name: 'short', score: () => [1] };
    await expect(scoreRollouts(rollouts, [short], options)).rejects.toThrow("Reward 'short' returned 1 scores for 4 completions");
  });

  it('times out a slow reward with a clear error', async () => {
    const stuck: RewardFunction = { name: 'stuck', score: () => new Promise(() => {}) };
    await expect(scoreRollouts(rollouts, [stuck], { ...options, timeoutMs: 20 })).rejects.toThrow(/Reward 'stuck' timed out after 20 ms/);
  });

  it('in penalty mode scores only the failing samples with the penalty and counts them', async () => {
    const fragile: RewardFunction = {
      name: 'fragile',
      score: ({ completions }) => completions.map((c) => (c === '3' ? Number.NaN : 1)),
    };
    const { groups, metrics } = await scoreRollouts(rollouts, [fragile], { ...options, onError: 'penalty' });
    expect(groups.flatMap((g) => g.rewards)).toEqual([1, -1, 1, 1]);
    expect(metrics['rewards/fragile/errors']).toBe(1);
    const stuck: RewardFunction = { name: 'stuck', score: () => new Promise(() => {}) };
    const timedOut = await scoreRollouts(rollouts, [stuck], { ...options, onError: 'penalty', timeoutMs: 10 });
    expect(timedOut.metrics['rewards/stuck/errors']).toBe(4);
  });

  it('rejects unknown weight names, duplicate names and an empty reward list', async () => {
    await expect(scoreRollouts(rollouts, [exact], { ...options, weights: { acuracy: 1 } })).rejects.toThrow(/rewards.weights names 'acuracy'/);
    await expect(scoreRollouts(rollouts, [exact, exact], options)).rejects.toThrow(/both named 'accuracy'/);
    await expect(scoreRollouts(rollouts, [], options)).rejects.toThrow(RewardError);
  });

  it('maps per-step rewards from characters to tokens and weights them', async () => {
    const stepwise: RewardFunction = {
      name: 'prm',
      score: ({ completions }) => completions.map(() => ({ score: null, steps: [{ endChar: 1, reward: 1 }] })),
    };
    const multi: Rollout[] = [{ row: { prompt: 'p' }, prompt: 'p', promptIds: [1], completions: [completion('ab'), completion('xy')] }];
    // Two-character tokens: token 0 covers chars 0..1, so a step ending at char 1 lands on token 0.
    const twoChars = { decode: (ids: readonly number[]) => 'xx'.repeat(ids.length) } as Tokenizer;
    const { groups } = await scoreRollouts(multi, [stepwise], { ...options, weights: { prm: 3 } }, twoChars);
    expect(groups[0]!.stepRewards).toEqual([[{ token: 0, reward: 3 }], [{ token: 0, reward: 3 }]]);
    // Step rewards alone make a completion scored (its scalar reward is 0).
    expect(groups[0]!.unscored).toEqual([false, false]);
  });

  it('adds the outcome reward as a final step when rewards combine steps and a scalar score', async () => {
    // 'ab' ends with step 1 at char 1 (token 0); 'xyz' has no step but an outcome score.
    const prm: RewardFunction = {
      name: 'prm',
      score: ({ completions }) => completions.map((c) => (c === 'ab' ? { score: null, steps: [{ endChar: 1, reward: 0.5 }] } : null)),
    };
    const outcome: RewardFunction = { name: 'accuracy', score: ({ completions }) => completions.map((c) => (c === 'xyz' ? 1 : 0)) };
    const multi: Rollout[] = [{ row: { prompt: 'p' }, prompt: 'p', promptIds: [1], completions: [completion('ab'), completion('xyz')] }];
    const { groups } = await scoreRollouts(multi, [prm, outcome], options);
    // 'ab': step 0.5 at token 0, outcome 0 at its last token 1; 'xyz': outcome 1 at token 2.
    expect(groups[0]!.stepRewards).toEqual([
      [
        { token: 0, reward: 0.5 },
        { token: 1, reward: 0 },
      ],
      [{ token: 2, reward: 1 }],
    ]);
    expect(groups[0]!.rewards).toEqual([0, 1]);
  });
});

describe('reward timeouts and cancellation (issue 21, items 1–2)', () => {
  it('gives an async reward a signal that fires at the timeout', async () => {
    let seen: AbortSignal | undefined;
    let abortedAt = 0;
    const started = performance.now();
    const waits: RewardFunction = {
      name: 'waits',
      score: ({ signal }) =>
        new Promise((_, reject) => {
          seen = signal;
          signal?.addEventListener('abort', () => {
            abortedAt = performance.now() - started;
            reject(new Error('cancelled'));
          });
        }),
    };
    await expect(scoreRollouts(rollouts, [waits], { ...options, timeoutMs: 50 })).rejects.toThrow(/Reward 'waits' timed out after 50 ms/);
    expect(seen?.aborted).toBe(true);
    expect(abortedAt).toBeGreaterThanOrEqual(45);
    expect(abortedAt).toBeLessThan(1000);
  });

  it("stops the other rewards' calls in flight when one reward stops the step", async () => {
    let signal: AbortSignal | undefined;
    const slow: RewardFunction = {
      name: 'slow',
      score: (input) => {
        signal = input.signal;
        return new Promise(() => {});
      },
    };
    const broken: RewardFunction = { name: 'broken', score: () => [1] };
    await expect(scoreRollouts(rollouts, [slow, broken], { ...options, timeoutMs: 10_000 })).rejects.toThrow(/Reward 'broken' returned 1 scores/);
    expect(signal?.aborted).toBe(true);
  });

  it('treats a synchronous reward that returns after the timeout as timed out', async () => {
    const busy: RewardFunction = {
      name: 'busy',
      score: ({ completions }) => {
        const until = performance.now() + 120;
        while (performance.now() < until);
        return completions.map(() => 1);
      },
    };
    await expect(scoreRollouts(rollouts, [busy], { ...options, timeoutMs: 40 })).rejects.toThrow(
      /Reward 'busy' ran synchronously for \d+ ms, longer than its timeout of 40 ms, on a batch of 4 samples/,
    );
    const penalised = await scoreRollouts(rollouts, [busy], { ...options, timeoutMs: 40, onError: 'penalty' });
    expect(penalised.metrics['rewards/busy/errors']).toBe(4);
    // Within the timeout, nothing changes.
    const fine = await scoreRollouts(rollouts, [busy], { ...options, timeoutMs: 5_000 });
    expect(fine.groups.flatMap((g) => g.rewards)).toEqual([1, 1, 1, 1]);
  });

  it('with penalty, the one-sample retries share one timeout budget instead of one each', async () => {
    // Every call takes 60 ms and throws on the batch: 1 + 8 calls would take 540 ms.
    const rows: Rollout[] = Array.from({ length: 4 }, (_, i) => ({ ...rollouts[0]!, prompt: `p${i}`, completions: [completion('a'), completion('b')] }));
    const flaky: RewardFunction = {
      name: 'flaky',
      score: async ({ completions }) => {
        await new Promise((r) => setTimeout(r, 60));
        if (completions.length > 1) throw new Error('batch too big');
        throw new Error('no');
      },
    };
    const started = performance.now();
    const { metrics, groups } = await scoreRollouts(rows, [flaky], { ...options, timeoutMs: 200, onError: 'penalty' });
    const took = performance.now() - started;
    expect(metrics['rewards/flaky/errors']).toBe(8);
    expect(groups.flatMap((g) => g.rewards)).toEqual(Array(8).fill(-1));
    expect(took).toBeLessThan(400);
    // raise: the budget running out while looking for the failing sample is a clear error.
    await expect(scoreRollouts(rows, [flaky], { ...options, timeoutMs: 200 })).rejects.toThrow(
      /Reward 'flaky' threw on sample 0 .*: no|threw on a batch of 8 samples \(batch too big\); scoring them one at a time/,
    );
  });

  it('reports `throw null` and other non-Error throws readably', async () => {
    const throwsNull: RewardFunction = {
      name: 'nullish',
      score: () => {
        throw null;
      },
    };
    await expect(scoreRollouts(rollouts, [throwsNull], options)).rejects.toThrow(
      /Reward 'nullish' threw on sample 0 .*: null \(a thrown value that is not an Error\)/,
    );
    const throwsText: RewardFunction = {
      name: 'text',
      score: () => {
        throw 'bad input';
      },
    };
    await expect(scoreRollouts(rollouts, [throwsText], options)).rejects.toThrow(RewardError);
    const penalised = await scoreRollouts(rollouts, [throwsNull], { ...options, onError: 'penalty' });
    expect(penalised.metrics['rewards/nullish/errors']).toBe(4);
  });
});

describe('charToToken', () => {
  it('finds the token containing a character offset', () => {
    // tokens "ab" | "c" | "de": cumulative ends 2, 3, 5
    expect(charToToken([2, 3, 5], 1)).toBe(0);
    expect(charToToken([2, 3, 5], 2)).toBe(0);
    expect(charToToken([2, 3, 5], 3)).toBe(1);
    expect(charToToken([2, 3, 5], 4)).toBe(2);
    expect(charToToken([2, 3, 5], 5)).toBe(2);
  });
});
