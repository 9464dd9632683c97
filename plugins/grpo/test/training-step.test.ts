/**
 * The objective inside a real gradient computation: gradient accumulation over micro-batches
 * equals the full batch for every aggregation (algorithms.md §4's trap), and the μ = 1
 * "loss is 0" case has a non-zero gradient (§2).
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AggregationContext, LossAggregation } from '@grpo/core';
import { clippedSurrogate, contextOf, grpoOutcome, k3, lossAggregations, seqMeanTokenMean, tokenMean } from '../src/index.js';
import { group, lcg } from './helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/**
 * log σ(x) = −softplus(−x). (tf.logSigmoid's custom gradient fails in tfjs 4.22 when its input
 * is an intermediate tensor rather than a variable, so the tests build it from softplus.)
 */
const logSigmoidOf = (x: tf.Tensor): tf.Tensor2D => tf.neg(tf.softplus(tf.neg(x))) as tf.Tensor2D;

const LENGTHS = [5, 1, 3, 6, 2, 6, 4, 2];
const B = LENGTHS.length;
const L = Math.max(...LENGTHS);
const TOTAL_TOKENS = LENGTHS.reduce((a, b) => a + b, 0); // 29
const CONTEXT: AggregationContext = { totalTokens: TOTAL_TOKENS, totalSequences: B, maxLength: L };

describe('gradient accumulation', () => {
  const rand = lcg(42);
  const uniform = (lo: number, hi: number) => lo + (hi - lo) * rand();
  const matrix = (f: (i: number, t: number) => number) => Array.from({ length: B }, (_, i) => Array.from({ length: L }, (_, t) => f(i, t)));
  const thetaInit = matrix(() => uniform(-2, 2));
  const logSigmoid = (x: number) => -Math.log1p(Math.exp(-x));
  // old and ref differ from logp by up to ±0.4 / ±0.3, so some ratios leave [0.8, 1.28] and dual-clip (c = 1.3) fires
  // (checked: in the full batch about 10% of tokens are low-clipped, 14% high-clipped, 3% dual-clipped).
  const oldInit = matrix((i, t) => (t < LENGTHS[i]! ? logSigmoid(thetaInit[i]![t]!) + uniform(-0.4, 0.4) : -1e9));
  const refInit = matrix((i, t) => logSigmoid(thetaInit[i]![t]!) + uniform(-0.3, 0.3));
  const seqAdv = LENGTHS.map(() => uniform(-1.5, 1.5));
  let theta: tf.Variable<tf.Rank.R2>;
  let mask: tf.Tensor2D, old: tf.Tensor2D, ref: tf.Tensor2D, advantages: tf.Tensor2D;

  beforeAll(() => {
    theta = tf.variable(tf.tensor2d(thetaInit), true, 'theta-accumulation');
    mask = tf.tensor2d(matrix((i, t) => (t < LENGTHS[i]! ? 1 : 0)));
    old = tf.tensor2d(oldInit);
    ref = tf.tensor2d(refInit);
    advantages = tf.tensor2d(matrix((i) => seqAdv[i]!));
  });
  afterAll(() => tf.dispose([theta, mask, old, ref, advantages]));

  /** The objective's loss for rows [start, end), padded to `width` columns, with logp and entropy from θ. */
  function loss(level: 'token' | 'sequence', agg: LossAggregation, start: number, end: number, width: number, context: AggregationContext): tf.Scalar {
    const objective = clippedSurrogate({ epsilonLow: 0.2, epsilonHigh: 0.28, dualClip: 1.3, ratioLevel: level, entropyCoef: 0.01, beta: 0.04, kl: k3 });
    const cut = (x: tf.Tensor2D) => tf.slice(x, [start, 0], [end - start, width]);
    const th = cut(theta);
    const logprobs = logSigmoidOf(th);
    // Bernoulli entropy of σ(θ): a θ-dependent entropy term.
    const p = tf.sigmoid(th);
    const entropy = tf.neg(tf.add(tf.mul(p, logprobs), tf.mul(tf.sub(1, p), logSigmoidOf(tf.neg(th)))));
    return objective.loss(
      { logprobs, oldLogprobs: cut(old), refLogprobs: cut(ref), advantages: cut(advantages), mask: cut(mask), entropy: entropy as tf.Tensor2D },
      agg,
      context,
    ).loss;
  }

  function gradient(f: () => tf.Scalar): { value: number; grad: number[][] } {
    const { value, grads } = tf.variableGrads(f, [theta]);
    const out = { value: value.arraySync(), grad: grads[theta.name]!.arraySync() as number[][] };
    tf.dispose([value, grads]);
    return out;
  }

  /** Sum of the gradients of 4 micro-batches of 2, each padded only to its own longest sequence. */
  function accumulated(level: 'token' | 'sequence', agg: LossAggregation, naive = false) {
    let value = 0;
    const grad = matrix(() => 0);
    for (let k = 0; k < B; k += 2) {
      const width = Math.max(LENGTHS[k]!, LENGTHS[k + 1]!);
      let context = CONTEXT;
      if (naive) {
        const part = tf.slice(mask, [k, 0], [2, width]);
        context = contextOf(part);
        part.dispose();
      }
      const part = gradient(() => loss(level, agg, k, k + 2, width, context));
      value += part.value;
      part.grad.forEach((row, i) => row.forEach((g, t) => (grad[i]![t]! += g)));
    }
    return { value, grad };
  }

  const maxAbsDiff = (a: number[][], b: number[][]) => Math.max(...a.flatMap((row, i) => row.map((x, t) => Math.abs(x - b[i]![t]!))));
  const maxAbs = (a: number[][]) => Math.max(...a.flat().map(Math.abs));

  for (const level of ['token', 'sequence'] as const) {
    for (const agg of lossAggregations) {
      it(`${agg.name}, ${level}-level ratio: Σ micro-batch gradients = full-batch gradient (1e-6), no tensor leaks`, () => {
        const before = tf.memory().numTensors;
        const full = gradient(() => loss(level, agg, 0, B, L, CONTEXT));
        const micro = accumulated(level, agg);
        expect(tf.memory().numTensors).toBe(before);
        expect(maxAbs(full.grad)).toBeGreaterThan(1e-3); // a real gradient, not all zeros
        expect(maxAbsDiff(micro.grad, full.grad)).toBeLessThan(1e-6);
        expect(Math.abs(micro.value - full.value)).toBeLessThan(1e-6);
        // Padding columns of θ get no gradient.
        full.grad.forEach((row, i) => row.forEach((g, t) => t >= LENGTHS[i]! && expect(g).toBe(0)));
      });
    }
  }

  it('the trap: normalising token-mean by each micro-batch instead of the step gives a different gradient', () => {
    const full = gradient(() => loss('token', tokenMean, 0, B, L, CONTEXT));
    const naive = accumulated('token', tokenMean, true);
    expect(maxAbsDiff(naive.grad, full.grad)).toBeGreaterThan(1e-3);
  });
});

describe('μ = 1: "the loss is 0" but the gradient is not', () => {
  it('loss ≈ −mean(A) with ρ ≡ 1, and the gradient is −A_i/(B·|o_i|)·(1 − σ(θ)) per valid token', () => {
    const lengths = [3, 2, 3, 1];
    const thetaInit = [
      [0.5, -1.0, 2.0],
      [-0.3, 0.8, 0.0],
      [1.5, 0.2, -0.7],
      [0.1, 0.0, 0.0],
    ];
    const theta = tf.variable(tf.tensor2d(thetaInit), true, 'theta-mu1');
    // Advantages of rewards [1, 0, 0, 1]: ±0.865875 (§1), one row per token.
    const batch = grpoOutcome.estimate({
      groups: [group([1, 0, 0, 1], lengths)],
      options: { std: 'unbiased', eps: 1e-4, zeroVarianceToZero: true, singleton: 'zero' },
    });
    const a = 0.865875;
    const seqA = [a, -a, -a, a];
    const pad = (row: number[]) => [...row, ...new Array<number>(3 - row.length).fill(0)];
    const advantages = tf.tensor2d(batch.advantages.map(pad));
    const mask = tf.tensor2d(lengths.map((n) => pad(new Array<number>(n).fill(1))));
    const oldLogprobs = tf.tidy(() => logSigmoidOf(theta)); // logp.detach()
    const before = tf.memory().numTensors;

    const objective = clippedSurrogate({ epsilonLow: 0.2, beta: 0.04, kl: k3 });
    const context = { totalTokens: 9, totalSequences: 4, maxLength: 3 };
    const { value, grads } = tf.variableGrads(
      () => objective.loss({ logprobs: logSigmoidOf(theta), oldLogprobs, refLogprobs: oldLogprobs, advantages, mask }, seqMeanTokenMean, context).loss,
      [theta],
    );
    // seq-mean-token-mean: −mean_i A_i = −(a − a − a + a)/4 = 0.
    expect(Math.abs(value.arraySync())).toBeLessThan(1e-6);
    const grad = grads[theta.name]!.arraySync() as number[][];
    const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
    grad.forEach((row, i) =>
      row.forEach((g, t) => {
        const expected = t < lengths[i]! ? (-seqA[i]! / (4 * lengths[i]!)) * (1 - sigmoid(thetaInit[i]![t]!)) : 0;
        expect(Math.abs(g - expected), `grad[${i}][${t}]`).toBeLessThan(1e-6);
      }),
    );
    expect(Math.max(...grad.flat().map(Math.abs))).toBeGreaterThan(0.01);
    tf.dispose([value, grads]);

    // token-mean: −Σ_t A / 9 = −(3a − 2a − 3a + a)/9 = a/9.
    const tm = tf.tidy(() => objective.loss({ logprobs: logSigmoidOf(theta), oldLogprobs, advantages, mask }, tokenMean, context).loss.arraySync());
    expect(tm).toBeCloseTo(a / 9, 6);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([theta, advantages, mask, oldLogprobs]);
  });
});
