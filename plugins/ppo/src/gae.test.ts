import { describe, expect, it } from 'vitest';
import { DEFAULT_ADVANTAGE_OPTIONS } from '@grpo/plugin-grpo';
import type { AdvantageInput } from '@grpo/core';
import { expectClose, group } from '../test/helpers.js';
import { gae, gaeSequence } from './gae.js';
import { KlController } from './kl-controller.js';

/**
 * Hand-worked batch, γ = 0.9, λ = 0.8 (γλ = 0.72), three completions of 3, 2 and 1 tokens (so
 * rows are padded to 3 in any tensor), outcome reward on the last token:
 *
 * seq 1, V = [0.5, 0.4, 0.6], R = 1:
 *   t=2: δ = 1 − 0.6 = 0.4                 A = 0.4
 *   t=1: δ = 0.9·0.6 − 0.4 = 0.14          A = 0.14 + 0.72·0.4 = 0.428
 *   t=0: δ = 0.9·0.4 − 0.5 = −0.14         A = −0.14 + 0.72·0.428 = 0.16816
 *   returns = A + V = [0.66816, 0.828, 1.0]
 * seq 2, V = [0.2, −0.1], R = 0:
 *   t=1: δ = 0 + 0.1 = 0.1                 A = 0.1
 *   t=0: δ = 0.9·(−0.1) − 0.2 = −0.29      A = −0.29 + 0.72·0.1 = −0.218
 *   returns = [−0.018, 0]
 * seq 3, V = [0.3], R = 0.5: δ = 0.2, A = 0.2, returns = [0.5]
 *
 * Cross-check with the λ-return recursion G_t = r_t + γ((1 − λ)V_{t+1} + λG_{t+1}):
 * seq 1 G_1 = 0.9·(0.2·0.6 + 0.8·1) = 0.828, G_0 = 0.9·(0.2·0.4 + 0.8·0.828) = 0.66816. ✓
 *
 * Whitening over the six valid tokens: mean 1.07816/6 = 0.1796933, unbiased variance 0.0550495
 * (std 0.2346264), so A' = (A − 0.1796933)/0.2346264 =
 * [−0.049156, 1.058307, 0.938968, −1.695007, −0.339661, 0.086549].
 */
const groups = [group([1, 0], [3, 2]), group([0.5], [1])];
const values = [[0.5, 0.4, 0.6], [0.2, -0.1], [0.3]];
const RAW = [[0.16816, 0.428, 0.4], [-0.218, 0.1], [0.2]];
const RETURNS = [[0.66816, 0.828, 1.0], [-0.018, 0], [0.5]];
const base = (extra: Partial<AdvantageInput> = {}): AdvantageInput => ({ groups, values, options: DEFAULT_ADVANTAGE_OPTIONS, ...extra });

describe('GAE: hand-worked example (γ 0.9, λ 0.8, padded batch)', () => {
  it('gaeSequence gives the advantages and returns of each completion', () => {
    const s1 = gaeSequence([0, 0, 1], values[0]!, 0.9, 0.8);
    expectClose(s1.advantages, RAW[0]!);
    expectClose(s1.returns, RETURNS[0]!);
    expectClose(gaeSequence([0, 0], values[1]!, 0.9, 0.8).advantages, RAW[1]!);
    expect(gaeSequence([], [], 0.9, 0.8)).toEqual({ advantages: [], returns: [] });
  });

  it('raw advantages and returns over the batch (whitening off)', () => {
    const out = gae({ gamma: 0.9, lambda: 0.8, whiten: false }).estimate(base());
    expectClose(out.advantages, RAW);
    expectClose(out.returns!, RETURNS);
    expect(out.metrics['advantages/raw_mean']).toBeCloseTo(1.07816 / 6, 6);
  });

  it('whitens the advantages over all valid tokens of the batch; returns stay raw', () => {
    const out = gae({ gamma: 0.9, lambda: 0.8 }).estimate(base());
    expectClose(out.advantages, [[-0.049156, 1.058307, 0.938968], [-1.695007, -0.339661], [0.086549]]);
    expectClose(out.returns!, RETURNS);
  });

  it('leaves masked (truncated) and unscored completions out of the whitening, with advantage 0', () => {
    // Without seq 3: mean 0.875632/5 = 0.1751264, unbiased variance 0.0686882 (std 0.2620843).
    const expected = [[-0.02851, 0.962927, 0.856091], [-1.501929, -0.288579], [0]];
    const truncated = [group([1, 0], [3, 2]), group([0.5], [1], { finish: ['length'] })];
    // `algorithm.maskTruncated`'s shaper marks the truncated completion as masked.
    const maskedGroups = [truncated[0]!, { ...truncated[1]!, masked: [true] }];
    const masked = gae({ gamma: 0.9, lambda: 0.8 }).estimate(base({ groups: maskedGroups }));
    expectClose(masked.advantages, expected);
    expectClose(masked.returns!, RETURNS); // the critic still learns the truncated completion's return
    // Without the mask the same batch counts the truncated completion.
    expectClose(gae({ gamma: 0.9, lambda: 0.8 }).estimate(base({ groups: truncated })).advantages[2]!, [0.086549]);

    const unscored = [group([1, 0], [3, 2]), group([0], [1], { unscored: [true] })];
    const out = gae({ gamma: 0.9, lambda: 0.8 }).estimate(base({ groups: unscored }));
    expectClose(out.advantages, expected);
    expectClose(out.returns![2]!, [0.3]); // returns = values: no target for the critic
  });

  it('γ = λ = 1 gives A_t = R − V_t (Monte-Carlo advantage)', () => {
    const out = gae({ gamma: 1, lambda: 1, whiten: false }).estimate(base());
    expectClose(out.advantages, [[0.5, 0.6, 0.4], [-0.2, 0.1], [0.2]]);
    expectClose(out.returns!, [[1, 1, 1], [0, 0], [0.5]]);
  });

  it('puts −β·k1 in every token’s reward with KL in the reward', () => {
    // seq 2: old = [−1.0, −0.5], ref = [−1.2, −0.4] → k1 = [0.2, −0.1]; β = 0.1 → r = [−0.02, 0.01 + 0]
    //   t=1: δ = 0.01 + 0.1 = 0.11; A = 0.11
    //   t=0: δ = −0.02 + 0.9·(−0.1) − 0.2 = −0.31; A = −0.31 + 0.72·0.11 = −0.2308
    //   returns = A + V = [−0.2308 + 0.2, 0.11 − 0.1] = [−0.0308, 0.01]
    // seqs 1 and 3 have old = ref (k1 = 0) and are unchanged. Observed KL: mean of Σk1 = (0 + 0.1 + 0)/3.
    const oldLogprobs = [[-1, -1, -1], [-1.0, -0.5], [-2]];
    const refLogprobs = [[-1, -1, -1], [-1.2, -0.4], [-2]];
    const out = gae({ gamma: 0.9, lambda: 0.8, whiten: false }).estimate(base({ oldLogprobs, refLogprobs, klInReward: { beta: 0.1 } }));
    expectClose(out.advantages, [RAW[0]!, [-0.2308, 0.11], RAW[2]!]);
    expectClose(out.returns!, [RETURNS[0]!, [-0.0308, 0.01], RETURNS[2]!]);
    expect(out.metrics['kl_in_reward/mean']).toBeCloseTo(0.1 / 3, 6);
    expect(out.metrics['kl_in_reward/beta']).toBe(0.1);
    // Without klInReward (the KL goes into the loss instead) the log-probs are ignored.
    expectClose(gae({ gamma: 0.9, lambda: 0.8, whiten: false }).estimate(base({ oldLogprobs, refLogprobs })).advantages, RAW);
  });

  it('adapts β after each step with the Ziegler et al. controller', () => {
    // Observed KL 0.0333 against target 0.05: e = clip(0.0333/0.05 − 1, −0.2, 0.2) = −0.2,
    // β ← 0.1·(1 + 0.1·(−0.2)) = 0.098. Step 2 then uses β = 0.098 on seq 2:
    //   r = [−0.0196, 0.0098]; t=1: A = 0.0098 + 0.1 = 0.1098; t=0: A = −0.0196 − 0.09 − 0.2 + 0.72·0.1098 = −0.230544
    const kl = new KlController({ target: 0.05, gain: 0.1 });
    const estimator = gae({ gamma: 0.9, lambda: 0.8, whiten: false, kl });
    const input = base({ oldLogprobs: [[-1, -1, -1], [-1.0, -0.5], [-2]], refLogprobs: [[-1, -1, -1], [-1.2, -0.4], [-2]], klInReward: { beta: 0.1 } });
    expect(estimator.estimate(input).metrics['kl_in_reward/beta']).toBe(0.1);
    const second = estimator.estimate(input);
    expect(second.metrics['kl_in_reward/beta']).toBeCloseTo(0.098, 10);
    expectClose(second.advantages[1]!, [-0.230544, 0.1098]);
    expect(kl.getState().beta).toBeCloseTo(0.098 * 0.98, 10);
  });

  it('rejects inputs it cannot use', () => {
    expect(() => gae().estimate({ groups, options: DEFAULT_ADVANTAGE_OPTIONS })).toThrow(/needs per-token values/);
    expect(() => gae().estimate(base({ values: [[0.5, 0.4], [0.2, -0.1], [0.3]] }))).toThrow(/3 tokens but 2 values/);
    expect(() => gae().estimate(base({ klInReward: { beta: 0.1 } }))).toThrow(/π_old and π_ref/);
    expect(() => gae({ lambda: 1.5 })).toThrow(/lambda/);
    expect(gae().needsValues).toBe(true);
  });
});

describe('KlController (Ziegler et al. 2019)', () => {
  it('β ← β·(1 + K·clip(KL/target − 1, ±0.2))', () => {
    const c = new KlController({ target: 6 });
    expect(c.beta(0.2)).toBe(0.2); // before any update: the configured β
    c.update(0.1, 9); // e = clip(0.5) = 0.2 → 0.1·1.02
    expect(c.beta(0.2)).toBeCloseTo(0.102, 12);
    c.update(0.1, 5.7); // e = −0.05 → 0.1·0.995
    expect(c.beta(0.2)).toBeCloseTo(0.0995, 12);
    const fixed = new KlController();
    fixed.update(0.1, 100);
    expect(fixed.beta(0.2)).toBe(0.2);
    expect(() => new KlController({ target: 0 })).toThrow(/target/);
  });
});
