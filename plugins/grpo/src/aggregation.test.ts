import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AggregationContext, LossAggregation } from '@grpo/core';
import { constantNormalizer, contextOf, lossAggregations, seqMeanTokenMean, seqMeanTokenSum, tokenMean } from './aggregation.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// algorithms.md §4: sequence 1 has 2 tokens with ℓ = [1, 1], sequence 2 has 4 tokens with ℓ = [2, 2, 2, 2];
// B = 2, L_max = 4. Padding holds junk (99) that must not count.
const LOSS = [
  [1, 1, 99, 99],
  [2, 2, 2, 2],
];
const MASK = [
  [1, 1, 0, 0],
  [1, 1, 1, 1],
];
const CONTEXT: AggregationContext = { totalTokens: 6, totalSequences: 2, maxLength: 4 };

function value(agg: LossAggregation, loss: number[][], mask: number[][], context: AggregationContext): number {
  const before = tf.memory().numTensors;
  const [l, m] = [tf.tensor2d(loss), tf.tensor2d(mask)];
  const s = agg.aggregate(l, m, context);
  const v = s.arraySync();
  tf.dispose([l, m, s]);
  expect(tf.memory().numTensors).toBe(before);
  return v;
}

describe('loss aggregation', () => {
  it('names', () => {
    expect(lossAggregations.map((a) => a.name)).toEqual(['seq-mean-token-mean', 'token-mean', 'seq-mean-token-sum', 'constant']);
  });

  it('reproduces algorithms.md §4', () => {
    expect(value(tokenMean, LOSS, MASK, CONTEXT)).toBeCloseTo(1.666667, 5);
    expect(value(seqMeanTokenMean, LOSS, MASK, CONTEXT)).toBeCloseTo(1.5, 5);
    expect(value(seqMeanTokenSum, LOSS, MASK, CONTEXT)).toBeCloseTo(5.0, 5);
    expect(value(constantNormalizer, LOSS, MASK, CONTEXT)).toBeCloseTo(1.25, 5);
  });

  it('micro-batches (each padded to its own length) sum to the full-batch value', () => {
    for (const agg of lossAggregations) {
      const full = value(agg, LOSS, MASK, CONTEXT);
      const parts = value(agg, [[1, 1]], [[1, 1]], CONTEXT) + value(agg, [[2, 2, 2, 2]], [[1, 1, 1, 1]], CONTEXT);
      expect(parts, agg.name).toBeCloseTo(full, 5);
    }
  });

  it('normalising by the micro-batch instead (the trap) gives a different token-mean', () => {
    // Per micro-batch token means 1 and 2 sum to 3, not 10/6.
    const naive =
      value(tokenMean, [[1, 1]], [[1, 1]], { totalTokens: 2, totalSequences: 1, maxLength: 4 }) +
      value(tokenMean, [[2, 2, 2, 2]], [[1, 1, 1, 1]], { totalTokens: 4, totalSequences: 1, maxLength: 4 });
    expect(naive).toBeCloseTo(3, 5);
  });

  it('an all-padding sequence adds nothing (no division by zero)', () => {
    expect(value(seqMeanTokenMean, [[5, 5]], [[0, 0]], { totalTokens: 0, totalSequences: 1, maxLength: 2 })).toBe(0);
    expect(value(tokenMean, [[5, 5]], [[0, 0]], { totalTokens: 0, totalSequences: 1, maxLength: 2 })).toBe(0);
  });

  it('contextOf counts a full batch', () => {
    const m = tf.tensor2d(MASK);
    expect(contextOf(m)).toEqual(CONTEXT);
    expect(contextOf(m, 10)).toEqual({ ...CONTEXT, maxLength: 10 });
    m.dispose();
  });
});
