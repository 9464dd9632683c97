import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AggregationContext, LossAggregation, ObjectiveInput } from '@grpo/core';
import { expectClose } from '../test/helpers.js';
import { seqMeanTokenMean, tokenMean } from './aggregation.js';
import { k1, k3 } from './kl.js';
import { clippedSurrogate, type ClippedSurrogateOptions } from './objective.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

interface Case {
  logRatio: number[][];
  advantages: number[][];
  mask?: number[][];
  ref?: number[][];
  entropy?: number[][];
}

/**
 * Runs the objective with logp = old + logRatio (old = −1) and returns the loss, d loss / d logp and
 * the metrics as numbers; checks that no tensor leaks.
 */
function run(options: Partial<ClippedSurrogateOptions>, c: Case, aggregation: LossAggregation = tokenMean) {
  const before = tf.memory().numTensors;
  const mask = c.mask ?? c.logRatio.map((r) => r.map(() => 1));
  const context: AggregationContext = {
    totalTokens: mask.flat().reduce((a, b) => a + b, 0),
    totalSequences: mask.length,
    maxLength: mask[0]!.length,
  };
  const old = tf.tensor2d(c.logRatio.map((r) => r.map(() => -1)));
  const logp = tf.tensor2d(c.logRatio.map((r) => r.map((x) => x - 1)));
  const rest = {
    oldLogprobs: old,
    advantages: tf.tensor2d(c.advantages),
    mask: tf.tensor2d(mask),
    ...(c.ref ? { refLogprobs: tf.tensor2d(c.ref) } : {}),
    ...(c.entropy ? { entropy: tf.tensor2d(c.entropy) } : {}),
  };
  const objective = clippedSurrogate(options);
  let metrics: Record<string, number> = {};
  const { value, grads } = tf.valueAndGrads((lp: tf.Tensor) => {
    const input: ObjectiveInput = { ...rest, logprobs: lp as tf.Tensor2D };
    const out = objective.loss(input, aggregation, context);
    metrics = Object.fromEntries(Object.entries(out.metrics).map(([k, v]) => [k, v.arraySync()]));
    return out.loss;
  })([logp]);
  const result = { loss: value.arraySync() as number, grad: grads[0]!.arraySync() as number[][], metrics };
  tf.dispose([value, grads, logp, rest]);
  expect(tf.memory().numTensors).toBe(before);
  return result;
}

const DAPO = { epsilonLow: 0.2, epsilonHigh: 0.28 };

describe('clipped-surrogate: algorithms.md §2', () => {
  it('A = +1, ρ = 1.5, ε_high 0.28 → ℓ = −1.28, clipped, zero gradient', () => {
    const r = run(DAPO, { logRatio: [[Math.log(1.5)]], advantages: [[1]] });
    expect(r.loss).toBeCloseTo(-1.28, 5);
    expect(Math.abs(r.grad[0]![0]!)).toBe(0);
    expect(r.metrics['clip_ratio/high_mean']).toBe(1);
  });

  it('A = −1, ρ = 0.5, ε_low 0.2 → ℓ = 0.8, clipped, zero gradient', () => {
    const r = run(DAPO, { logRatio: [[Math.log(0.5)]], advantages: [[-1]] });
    expect(r.loss).toBeCloseTo(0.8, 5);
    expect(Math.abs(r.grad[0]![0]!)).toBe(0);
    expect(r.metrics['clip_ratio/low_mean']).toBe(1);
  });

  it('clip-higher: ρ = 1.25 is inside [0.8, 1.28] but outside [0.8, 1.2]', () => {
    // Unclipped: ℓ = −ρA = −1.25, dℓ/dlogp = −ρA = −1.25.
    const r = run(DAPO, { logRatio: [[Math.log(1.25)]], advantages: [[1]] });
    expect(r.loss).toBeCloseTo(-1.25, 5);
    expect(r.grad[0]![0]).toBeCloseTo(-1.25, 5);
    // Symmetric ε = 0.2: clipped at 1.2.
    const s = run({ epsilonLow: 0.2 }, { logRatio: [[Math.log(1.25)]], advantages: [[1]] });
    expect(s.loss).toBeCloseTo(-1.2, 5);
    expect(Math.abs(s.grad[0]![0]!)).toBe(0);
  });

  it('the pessimistic side is not clipped: A = −1, ρ = 1.5 → ℓ = 1.5 with gradient 1.5', () => {
    const r = run({ epsilonLow: 0.2 }, { logRatio: [[Math.log(1.5)]], advantages: [[-1]] });
    expect(r.loss).toBeCloseTo(1.5, 5);
    expect(r.grad[0]![0]).toBeCloseTo(1.5, 5);
  });

  it('dual-clip: A = −1, ρ = 5, ε 0.2, c 3 → ℓ = 3 (5 without it)', () => {
    const r = run({ epsilonLow: 0.2, dualClip: 3 }, { logRatio: [[Math.log(5)]], advantages: [[-1]] });
    expect(r.loss).toBeCloseTo(3, 5);
    expect(Math.abs(r.grad[0]![0]!)).toBe(0);
    expect(r.metrics['clip_ratio/dual_mean']).toBe(1);
    expect(run({ epsilonLow: 0.2 }, { logRatio: [[Math.log(5)]], advantages: [[-1]] }).loss).toBeCloseTo(5, 4);
    // Dual-clip never touches A > 0: ρ = 5, A = +1 → −1.2.
    expect(run({ epsilonLow: 0.2, dualClip: 3 }, { logRatio: [[Math.log(5)]], advantages: [[1]] }).loss).toBeCloseTo(-1.2, 5);
  });

  it('clip-fraction metrics count valid tokens only', () => {
    // Valid tokens: (ρ 0.5, A −1) low; (ρ 1.5, A +1) high; (ρ 0.5, A +1) neither; (ρ 1, A +1) neither.
    // The padded token (ρ 0.1, A −1) would be "low" but is masked out. 4 valid tokens.
    const r = run(DAPO, {
      logRatio: [
        [Math.log(0.5), Math.log(1.5), Math.log(0.1)],
        [Math.log(0.5), 0, 0],
      ],
      advantages: [
        [-1, 1, -1],
        [1, 1, 0],
      ],
      mask: [
        [1, 1, 0],
        [1, 1, 0],
      ],
    });
    expect(r.metrics['clip_ratio/low_mean']).toBeCloseTo(0.25, 6);
    expect(r.metrics['clip_ratio/high_mean']).toBeCloseTo(0.25, 6);
    expect(r.metrics['clip_ratio/region_mean']).toBeCloseTo(0.5, 6);
    // ℓ: 0.8 (clipped), −1.28 (clipped), −0.5 (ρA = 0.5 < 0.8A), −1 → token-mean (0.8 − 1.28 − 0.5 − 1)/4.
    expect(r.loss).toBeCloseTo((0.8 - 1.28 - 0.5 - 1) / 4, 5);
    expect(Math.abs(r.grad[0]![2]!)).toBe(0);
  });

  it('GSPO: token log-ratios [0.1, −0.05, 0.3] → s = exp(0.35/3) = 1.123745 on every token', () => {
    const c: Case = { logRatio: [[0.1, -0.05, 0.3, 5]], advantages: [[1, 1, 1, 1]], mask: [[1, 1, 1, 0]] };
    const r = run({ epsilonLow: 0.2, ratioLevel: 'sequence' }, c, seqMeanTokenMean);
    expect(r.loss).toBeCloseTo(-1.123745, 5);
    expect(r.metrics['ratio/mean']).toBeCloseTo(1.123745, 5);
    // d(−s)/d logp_t = −s/3 for each valid token, 0 on padding.
    expectClose(r.grad, [[-1.123745 / 3, -1.123745 / 3, -1.123745 / 3, 0]]);
    // GSPO's small clip range (3e-4 / 4e-4): s is clipped at 1.0004, every valid token counts as clipped.
    const g = run({ epsilonLow: 3e-4, epsilonHigh: 4e-4, ratioLevel: 'sequence' }, c, seqMeanTokenMean);
    expect(g.loss).toBeCloseTo(-1.0004, 5);
    expect(g.metrics['clip_ratio/high_mean']).toBe(1);
    // Token level for comparison: mean of −exp(x) over the three tokens (none clipped with ε 0.4).
    const t = run({ epsilonLow: 0.4 }, c, seqMeanTokenMean);
    expect(t.loss).toBeCloseTo(-(Math.exp(0.1) + Math.exp(-0.05) + Math.exp(0.3)) / 3, 5);
  });

  it('β·KL per token in the loss, and the kl metric (§3 numbers)', () => {
    // ρ = 1, A = 0: the policy term is 0; logp = −1.0, ref = −1.2 → k3 0.018731, β 0.04.
    const c: Case = { logRatio: [[0]], advantages: [[0]], ref: [[-1.2]] };
    const r = run({ beta: 0.04 }, c);
    expect(r.loss).toBeCloseTo(0.04 * 0.018731, 7);
    expect(r.metrics.kl).toBeCloseTo(0.018731, 5);
    // d(β·k3)/dlogp = β(1 − exp(ref − logp)) = 0.04·(1 − e^−0.2).
    expect(r.grad[0]![0]).toBeCloseTo(0.04 * (1 - Math.exp(-0.2)), 6);
    // The estimator is selectable: k1 gives 0.2.
    expect(run({ beta: 0.5, kl: k1 }, c).loss).toBeCloseTo(0.1, 6);
    // β = 0: logged, not in the loss.
    const z = run({ beta: 0, kl: k3 }, c);
    expect(z.loss).toBe(0);
    expect(z.metrics.kl).toBeCloseTo(0.018731, 5);
    // No reference log-probs: no kl metric.
    expect(run({ beta: 0.04 }, { logRatio: [[0]], advantages: [[0]] }).metrics.kl).toBeUndefined();
  });

  it('minus entropyCoef·entropy, and the entropy metric', () => {
    const r = run({ entropyCoef: 0.01 }, { logRatio: [[0, 0]], advantages: [[0, 0]], entropy: [[2, 4]], mask: [[1, 0]] });
    expect(r.loss).toBeCloseTo(-0.02, 6);
    expect(r.metrics.entropy).toBeCloseTo(2, 6);
    expect(run({ entropyCoef: 0 }, { logRatio: [[0]], advantages: [[0]], entropy: [[2]] }).loss).toBe(0);
  });

  it('clamps log ρ to [−20, 20] and ignores junk (−∞, NaN) in padding', () => {
    const r = run({ epsilonLow: 0.2 }, { logRatio: [[50]], advantages: [[-1]] });
    expect(r.loss).toBeCloseTo(Math.exp(20), -3);
    expect(Number.isFinite(r.loss)).toBe(true);
    const p = run(
      { epsilonLow: 0.2, beta: 0.04, entropyCoef: 0.1 },
      { logRatio: [[0, Number.NEGATIVE_INFINITY]], advantages: [[1, Number.NaN]], mask: [[1, 0]], ref: [[-1, Number.NaN]], entropy: [[1, Number.NaN]] },
    );
    expect(p.loss).toBeCloseTo(-1 - 0.1, 5);
    expect(p.grad[0]!.every(Number.isFinite)).toBe(true);
  });

  it('its gradient matches central finite differences (all terms on, both ratio levels)', () => {
    // Ratios chosen away from every kink: unclipped, clipped high, clipped low, dual-clipped, padding.
    const c: Case = {
      logRatio: [
        [0.1, -0.3, 0.35, 0.05],
        [-0.5, 0.2, 1.7, 0],
      ],
      advantages: [
        [1, 1, 1, 1],
        [-1, -0.5, -1, -2],
      ],
      mask: [
        [1, 1, 1, 0],
        [1, 1, 1, 1],
      ],
      ref: [
        [-1.3, -0.8, -1.1, -1],
        [-0.6, -1.4, -1.2, -0.9],
      ],
      entropy: [
        [0.5, 0.7, 0.9, 1],
        [1.1, 0.3, 0.4, 0.2],
      ],
    };
    const h = 1e-3;
    for (const ratioLevel of ['token', 'sequence'] as const) {
      const options = { epsilonLow: 0.2, epsilonHigh: 0.28, dualClip: 3, ratioLevel, beta: 0.04, entropyCoef: 0.01 };
      const { grad } = run(options, c, seqMeanTokenMean);
      c.logRatio.forEach((row, i) =>
        row.forEach((_, t) => {
          const shifted = (d: number): Case => ({ ...c, logRatio: c.logRatio.map((r, ii) => r.map((x, tt) => (ii === i && tt === t ? x + d : x))) });
          const numeric = (run(options, shifted(h), seqMeanTokenMean).loss - run(options, shifted(-h), seqMeanTokenMean).loss) / (2 * h);
          expect(Math.abs(grad[i]![t]! - numeric), `${ratioLevel} [${i}][${t}]`).toBeLessThan(5e-4);
        }),
      );
      expect(Math.max(...grad.flat().map(Math.abs))).toBeGreaterThan(0.01);
    }
  });

  it('rejects invalid options', () => {
    expect(() => clippedSurrogate({ epsilonLow: 1 })).toThrow(/epsilonLow/);
    expect(() => clippedSurrogate({ dualClip: 1 })).toThrow(/dualClip/);
    expect(() => clippedSurrogate({ beta: -1 })).toThrow(/beta/);
    expect(clippedSurrogate().name).toBe('clipped-surrogate');
  });
});
