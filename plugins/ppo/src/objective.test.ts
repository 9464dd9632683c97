import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AggregationContext, LossAggregation } from '@grpo/core';
import { seqMeanTokenMean, tokenMean } from '@grpo/plugin-grpo';
import { expectClose } from '../test/helpers.js';
import { CriticParticipant } from './critic.js';
import { clippedValueLoss, ppoObjective } from './objective.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/**
 * Clipped value loss, algorithms.md §5, c = 0.5, batch of two rows padded to 2 (mask [[1,1],[1,0]]):
 *   a: V = 1.0, V_old = 0.2, R = 0.5 → Vc = clip(1.0, −0.3, 0.7) = 0.7; (V−R)² = 0.25, (Vc−R)² = 0.04 → ½·0.25 = 0.125
 *   b: V = 0.9, V_old = 0.2, R = 1.0 → Vc = 0.7; (V−R)² = 0.01, (Vc−R)² = 0.09 → ½·0.09 = 0.045 (clipped term wins: no gradient)
 *   c: V = −0.6, V_old = 0, R = 0    → Vc = −0.5; 0.36 vs 0.25 → ½·0.36 = 0.18
 *   d: padding (V = 5, ignored)
 * token-mean: (0.125 + 0.045 + 0.18)/3 = 0.116667; d/dV = (V − R)/3 on unclipped-winning tokens:
 *   [[0.5/3, 0], [−0.6/3, 0]] = [[0.166667, 0], [−0.2, 0]].
 * seq-mean-token-mean: ((0.125 + 0.045)/2 + 0.18)/2 = 0.1325.
 */
const V = [
  [1.0, 0.9],
  [-0.6, 5],
];
const V_OLD = [
  [0.2, 0.2],
  [0, 0],
];
const R = [
  [0.5, 1.0],
  [0, 0],
];
const MASK = [
  [1, 1],
  [1, 0],
];
const context: AggregationContext = { totalTokens: 3, totalSequences: 2, maxLength: 2 };

function valueLoss(aggregation: LossAggregation, clip = 0.5) {
  const before = tf.memory().numTensors;
  const [oldValues, returns, mask, values] = [tf.tensor2d(V_OLD), tf.tensor2d(R), tf.tensor2d(MASK), tf.tensor2d(V)];
  let metrics: Record<string, number> = {};
  const { value, grads } = tf.valueAndGrads((v: tf.Tensor) => {
    const out = clippedValueLoss({ values: v as tf.Tensor2D, oldValues, returns, mask }, aggregation, context, clip);
    metrics = Object.fromEntries(Object.entries(out.metrics).map(([k, m]) => [k, m.arraySync() as number]));
    tf.dispose(Object.values(out.metrics));
    return out.loss;
  })([values]);
  const result = { loss: value.arraySync() as number, grad: grads[0]!.arraySync() as number[][], metrics };
  tf.dispose([value, grads, oldValues, returns, mask, values]);
  expect(tf.memory().numTensors).toBe(before);
  return result;
}

describe('clipped value loss (algorithms.md §5)', () => {
  it('½·token-mean(max((V − R)², (Vc − R)²)) and its gradient', () => {
    const r = valueLoss(tokenMean);
    expect(r.loss).toBeCloseTo(0.116667, 5);
    expectClose(r.grad, [
      [0.166667, 0],
      [-0.2, 0],
    ]);
    expect(r.metrics.value_loss).toBeCloseTo(0.116667, 5);
    expect(r.metrics.value_clip_frac).toBeCloseTo(1 / 3, 6);
    expect(r.metrics['values/mean']).toBeCloseTo((1.0 + 0.9 - 0.6) / 3, 6);
    expect(r.metrics['returns/mean']).toBeCloseTo(0.5, 6);
  });

  it('uses the configured aggregation', () => {
    expect(valueLoss(seqMeanTokenMean).loss).toBeCloseTo(0.1325, 6);
  });

  it('a wide clip range is the plain squared error', () => {
    // c = 10: Vc = V everywhere: ½·(0.25 + 0.01 + 0.36)/3 = 0.103333, no clipped token.
    const r = valueLoss(tokenMean, 10);
    expect(r.loss).toBeCloseTo(0.103333, 5);
    expect(r.metrics.value_clip_frac).toBe(0);
    expectClose(r.grad, [
      [0.166667, -0.1 / 3],
      [-0.2, 0],
    ]);
  });
});

describe('ppo objective + critic participant = clipped surrogate + vfCoef · clipped value loss', () => {
  /** A critic whose values are whatever tensor the test gives it (so gradients reach that tensor). */
  const criticOf = (values: () => tf.Tensor2D, vfCoef = 0.5) =>
    new CriticParticipant(
      { values, trainableVariables: () => [], save: async () => {}, load: async () => {}, dispose: () => {} },
      { vfCoef, valueClip: 0.5, maxGradNorm: 1, adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 } },
    );

  it('adds the two parts and routes each gradient to its own input', () => {
    // ρ = 1 (logp = old), A = [[1, −1], [2, ·]], token-mean: policy loss = −(1 − 1 + 2)/3 = −0.666667,
    // d/dlogp = −A/3 = [[−1/3, 1/3], [−2/3, 0]]. vfCoef 0.5: total = −0.666667 + 0.5·0.116667 = −0.608333,
    // d/dV = 0.5·[[0.166667, 0], [−0.2, 0]].
    const before = tf.memory().numTensors;
    const fixed = {
      oldLogprobs: tf.tensor2d([
        [-1, -1],
        [-1, -1],
      ]),
      advantages: tf.tensor2d([
        [1, -1],
        [2, 0],
      ]),
      mask: tf.tensor2d(MASK),
    };
    const oldValues = tf.tensor2d(V_OLD);
    const returns = tf.tensor2d(R);
    const logp = tf.tensor2d([
      [-1, -1],
      [-1, -1],
    ]);
    const values = tf.tensor2d(V);
    const objective = ppoObjective();
    expect(objective.name).toBe('ppo');
    const metrics: Record<string, number> = {};
    const { value, grads } = tf.valueAndGrads((lp: tf.Tensor, v: tf.Tensor) => {
      const policy = objective.loss({ ...fixed, logprobs: lp as tf.Tensor2D }, tokenMean, context);
      const critic = criticOf(() => v as tf.Tensor2D).loss(
        { tokens: { prompts: [], completions: [] }, mask: fixed.mask, oldValues, returns },
        tokenMean,
        context,
      );
      for (const out of [policy, critic]) {
        for (const [k, m] of Object.entries(out.metrics)) metrics[k] = m.arraySync() as number;
        tf.dispose(Object.values(out.metrics));
      }
      return tf.add(policy.loss, critic.loss) as tf.Scalar;
    })([logp, values]);
    expect(value.arraySync()).toBeCloseTo(-0.608333, 5);
    expectClose(grads[0]!.arraySync() as number[][], [
      [-1 / 3, 1 / 3],
      [-2 / 3, 0],
    ]);
    expectClose(grads[1]!.arraySync() as number[][], [
      [0.083333, 0],
      [-0.1, 0],
    ]);
    expect(metrics.policy_loss).toBeCloseTo(-0.666667, 5);
    expect(metrics.value_loss).toBeCloseTo(0.116667, 5);
    expect(Object.keys(metrics)).toEqual(
      expect.arrayContaining(['clip_ratio/low_mean', 'clip_ratio/high_mean', 'ratio/mean', 'value_clip_frac', 'values/mean', 'returns/mean']),
    );
    tf.dispose([value, grads, logp, values, oldValues, returns, Object.values(fixed)]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('the critic needs its old values and the returns', () => {
    const t = tf.tensor2d([[0]]);
    expect(() => criticOf(() => t).loss({ tokens: { prompts: [], completions: [] }, mask: t }, tokenMean, context)).toThrow(
      /values before the update and the estimator's returns/,
    );
    t.dispose();
    expect(() => criticOf(() => t, -1)).toThrow(/vfCoef/);
  });
});
