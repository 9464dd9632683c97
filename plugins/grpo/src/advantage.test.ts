import { describe, expect, it } from 'vitest';
import type { AdvantageOptions } from '@grpo/core';
import { expectClose, group } from '../test/helpers.js';
import { advantageEstimators, drGrpo, grpoBatch, grpoOutcome, grpoProcess, reinforcePlusPlus, rft, rloo } from './advantage.js';

const OPTS: AdvantageOptions = { std: 'unbiased', eps: 1e-4, zeroVarianceToZero: true, singleton: 'zero' };
const with_ = (o: Partial<AdvantageOptions>): AdvantageOptions => ({ ...OPTS, ...o });

describe('estimator objects', () => {
  it('have the names config selects', () => {
    expect(advantageEstimators.map((e) => e.name)).toEqual(['grpo', 'grpo-process', 'dr-grpo', 'rloo', 'reinforce-plus-plus', 'grpo-batch', 'rft']);
  });

  it('grpo reproduces §1 and puts the same value on every token', () => {
    const c = 0.865875;
    const out = grpoOutcome.estimate({ groups: [group([1, 0, 0, 1], [3, 1, 2, 0])], options: OPTS });
    expectClose(out.advantages, [[c, c, c], [-c], [-c, -c], []]);
    const d = 0.866024;
    expectClose(grpoOutcome.estimate({ groups: [group([1, 0, 0, 1], [1, 1, 1, 1])], options: with_({ eps: 1e-6 }) }).advantages, [[d], [-d], [-d], [d]]);
    expectClose(grpoOutcome.estimate({ groups: [group([1, 0, 0, 1], [1, 1, 1, 1])], options: with_({ std: 'biased', eps: 0 }) }).advantages, [
      [1],
      [-1],
      [-1],
      [1],
    ]);
  });

  it('dr-grpo and rloo reproduce §1', () => {
    const g = [group([1, 0, 0, 1], [2, 1, 1, 1])];
    expectClose(drGrpo.estimate({ groups: g, options: OPTS }).advantages, [[0.5, 0.5], [-0.5], [-0.5], [0.5]]);
    const r = 0.666667;
    expectClose(rloo.estimate({ groups: g, options: OPTS }).advantages, [[r, r], [-r], [-r], [r]]);
  });

  it('an all-equal group gives 0 for each member under every group-relative estimator, and is counted', () => {
    // rft is not group-relative: it reinforces every correct sample (tested below).
    for (const e of advantageEstimators.filter((x) => x.name !== 'rft')) {
      for (const zeroVarianceToZero of [true, false]) {
        for (const eps of [0, 1e-4]) {
          const out = e.estimate({ groups: [group([1, 1, 1, 1], [2, 1, 3, 1])], options: with_({ zeroVarianceToZero, eps }) });
          for (const row of out.advantages) for (const a of row) expect(a, `${e.name} zvz=${zeroVarianceToZero} eps=${eps}`).toBe(0);
          expect(out.metrics.frac_reward_zero_std).toBe(1);
        }
      }
    }
  });

  it('reports frac_reward_zero_std over the batch of groups', () => {
    const out = grpoOutcome.estimate({
      groups: [group([1, 1], [1, 1]), group([1, 0], [1, 1]), group([0.2, 0.2], [1, 1]), group([0, 1], [1, 1])],
      options: OPTS,
    });
    expect(out.metrics.frac_reward_zero_std).toBe(0.5);
    expect(out.advantages.length).toBe(8); // one row per completion, in group order
  });

  it('a group of one follows the singleton rule under both settings', () => {
    const groups = [group([0.7], [3])];
    for (const e of [grpoOutcome, drGrpo, rloo, grpoProcess]) {
      expect(e.estimate({ groups, options: with_({ singleton: 'zero' }) }).advantages, e.name).toEqual([[0, 0, 0]]);
      expectClose(e.estimate({ groups, options: with_({ singleton: 'raw' }) }).advantages, [[0.7, 0.7, 0.7]]);
    }
    expect(grpoOutcome.estimate({ groups, options: OPTS }).metrics.frac_singleton_groups).toBe(1);
    expect(reinforcePlusPlus.estimate({ groups, options: OPTS }).advantages).toEqual([[0, 0, 0]]);
    expect(grpoBatch.estimate({ groups, options: OPTS }).advantages).toEqual([[0, 0, 0]]);
  });

  it('unscored completions get 0 and are left out of the group statistics', () => {
    // Scored rewards [1, 0, 0, 1] as in §1; the unscored one (reward 5) must not move the mean or std.
    const g = group([1, 0, 5, 0, 1], [1, 2, 3, 1, 1], { unscored: [false, false, true, false, false] });
    const c = 0.865875;
    const out = grpoOutcome.estimate({ groups: [g], options: OPTS });
    expectClose(out.advantages, [[c], [-c, -c], [0, 0, 0], [-c], [c]]);
    expect(out.metrics.frac_unscored).toBeCloseTo(0.2, 10);
    expectClose(rloo.estimate({ groups: [g], options: OPTS }).advantages, [[0.666667], [-0.666667, -0.666667], [0, 0, 0], [-0.666667], [0.666667]]);
    // Only one scored completion left → a group of one.
    const lone = group([1, Number.NaN, 0], [1, 1, 1], { unscored: [true, false, true] });
    lone.rewards[1] = 0.4;
    expect(grpoOutcome.estimate({ groups: [lone], options: OPTS }).advantages).toEqual([[0], [0], [0]]);
    expect(grpoOutcome.estimate({ groups: [lone], options: with_({ singleton: 'raw' }) }).advantages).toEqual([[0], [0.4], [0]]);
    // Nothing scored: all zeros, no NaN.
    const none = group([0, 0], [2, 1], { unscored: [true, true] });
    for (const e of advantageEstimators) expect(e.estimate({ groups: [none], options: OPTS }).advantages).toEqual([[0, 0], [0]]);
  });

  it('rejects mismatched reward counts and non-finite rewards of scored completions', () => {
    const bad = group([1, 0], [1, 1]);
    bad.rewards.pop();
    expect(() => grpoOutcome.estimate({ groups: [bad], options: OPTS })).toThrow(/2 completions but 1 rewards/);
    expect(() => grpoOutcome.estimate({ groups: [group([1, Number.NaN], [1, 1])], options: OPTS })).toThrow(/must be finite/);
  });

  it('reports advantage statistics over scored tokens', () => {
    const out = drGrpo.estimate({ groups: [group([1, 0], [1, 3])], options: OPTS });
    // Tokens: [0.5], [−0.5, −0.5, −0.5] → mean −0.25.
    expect(out.metrics['advantages/mean']).toBeCloseTo(-0.25, 10);
    expect(out.metrics['advantages/min']).toBe(-0.5);
    expect(out.metrics['advantages/max']).toBe(0.5);
  });
});

describe('grpo-process', () => {
  it('hand-worked process supervision, with an unscored completion left out', () => {
    // Pooled step rewards of the scored completions [1, 0, 0, 1]: mean 0.5, biased std 0.5 → ±1.
    // c0 (5 tokens): +1 ends at token 1, −1 at token 4 → [0, 0, −1, −1, −1]
    // c1 (3 tokens): −1 ends at token 0, +1 at token 2 → [0, 1, 1]
    // c2 is unscored (its step reward 7 would change the statistics) → zeros.
    const g = group([1, 1, 0], [5, 3, 2], {
      unscored: [false, false, true],
      stepRewards: [
        [
          { token: 1, reward: 1 },
          { token: 4, reward: 0 },
        ],
        [
          { token: 0, reward: 0 },
          { token: 2, reward: 1 },
        ],
        [{ token: 1, reward: 7 }],
      ],
    });
    const out = grpoProcess.estimate({ groups: [g], options: with_({ std: 'biased', eps: 0 }) });
    expectClose(out.advantages, [
      [0, 0, -1, -1, -1],
      [0, 1, 1],
      [0, 0],
    ]);
    expect(out.metrics.frac_reward_zero_std).toBe(0);
  });

  it('without step rewards it is outcome supervision (the reward is one step at the last token)', () => {
    const g = group([1, 0, 0, 1], [3, 1, 2, 2]);
    expectClose(grpoProcess.estimate({ groups: [g], options: OPTS }).advantages, grpoOutcome.estimate({ groups: [g], options: OPTS }).advantages, 1e-12);
    const c = 0.865875;
    expectClose(grpoProcess.estimate({ groups: [g], options: OPTS }).advantages, [[c, c, c], [-c], [-c, -c], [c, c]]);
  });

  it('all-equal step rewards count as a zero-std group', () => {
    const g = group([1, 1], [2, 2], { stepRewards: [[{ token: 0, reward: 0.5 }], [{ token: 1, reward: 0.5 }]] });
    const out = grpoProcess.estimate({ groups: [g], options: OPTS });
    expect(out.advantages).toEqual([
      [0, 0],
      [0, 0],
    ]);
    expect(out.metrics.frac_reward_zero_std).toBe(1);
  });
});

describe('reinforce-plus-plus', () => {
  it('whitens r − mean over the valid tokens of the batch only (hand-worked, variable lengths)', () => {
    // Group A: rewards [1, 0], lengths [1, 3] → centred [0.5], [−0.5 ×3].
    // Group B: all-equal [2, 2] → 0 by rule, left out of the statistics.
    // Group C: one unscored completion (4 tokens) → 0, not a valid token.
    // Whitened tokens [0.5, −0.5, −0.5, −0.5]: mean −0.25, Σd² 0.75, unbiased var 0.25
    // → 0.75/sqrt(0.25 + 1e-8) = 1.5 and −0.25/0.5 = −0.5.
    // (Whitening the zero-padded [2, 3] matrix instead would count two padding zeros: a different answer.)
    const groups = [group([1, 0], [1, 3]), group([2, 2], [2, 2]), group([9, 1], [4, 1], { unscored: [true, true] })];
    const out = reinforcePlusPlus.estimate({ groups, options: OPTS });
    expectClose(out.advantages, [[1.5], [-0.5, -0.5, -0.5], [0, 0], [0, 0], [0, 0, 0, 0], [0]]);
    // Biased variance 0.1875 → 0.75/0.4330127 = 1.732051, −0.25/0.4330127 = −0.577350.
    expectClose(reinforcePlusPlus.estimate({ groups, options: with_({ std: 'biased' }) }).advantages, [
      [1.732051],
      [-0.57735, -0.57735, -0.57735],
      [0, 0],
      [0, 0],
      [0, 0, 0, 0],
      [0],
    ]);
  });

  it('with zeroVarianceToZero off it is verl: all-equal groups join the whitening', () => {
    // Tokens A [0.5, −0.5, −0.5, −0.5] and B [0, 0, 0, 0]: mean −0.125, Σd² = 0.390625 + 3·0.140625
    // + 4·0.015625 = 0.875, unbiased var 0.125, std 0.3535534:
    // 0.625/0.3535534 = 1.767767, −0.375/0.3535534 = −1.060660, 0.125/0.3535534 = 0.353553.
    const groups = [group([1, 0], [1, 3]), group([2, 2], [2, 2])];
    const out = reinforcePlusPlus.estimate({ groups, options: with_({ zeroVarianceToZero: false, singleton: 'raw' }) });
    const [a, b, z] = [1.767767, -1.06066, 0.353553];
    expectClose(out.advantages, [[a], [b, b, b], [z, z], [z, z]]);
  });
});

describe('grpo-batch', () => {
  it('divides the group-centred rewards by the std of the whole batch (hand-worked)', () => {
    // Batch rewards [1, 0, 4, 2]: mean 1.75, Σd² = 0.5625 + 3.0625 + 5.0625 + 0.0625 = 8.75,
    // unbiased std sqrt(8.75/3) = 1.7078251; centred in groups [0.5, −0.5], [1, −1];
    // 0.5/(1.7078251 + 1e-4) = 0.292753, 1/(1.7078251 + 1e-4) = 0.585506.
    const out = grpoBatch.estimate({ groups: [group([1, 0], [1, 2]), group([4, 2], [1, 1])], options: OPTS });
    expectClose(out.advantages, [[0.292753], [-0.292753, -0.292753], [0.585506], [-0.585506]]);
  });
});

describe('rft (online rejection-sampling fine-tuning)', () => {
  it('reinforces correct samples with weight 1 and ignores the rest', () => {
    const completion = (n: number) => ({ tokenIds: Array(n).fill(1), text: '', logprobs: Array(n).fill(0), finishReason: 'eos' as const });
    const group = {
      row: { prompt: 'p' },
      prompt: 'p',
      promptIds: [1],
      completions: [completion(2), completion(1), completion(3)],
      rewards: [1, 0, 0.5],
      rewardsByFunction: {},
      unscored: [false, false, false],
    };
    const out = rft.estimate({ groups: [group], options: { std: 'unbiased', eps: 1e-4, zeroVarianceToZero: true, singleton: 'zero' } });
    expect(out.advantages).toEqual([[1, 1], [0], [1, 1, 1]]);
  });
});
