import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectClose } from '../test/helpers.js';
import { absKl, k1, k2, k3, klEstimators } from './kl.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const run = (e: (typeof klEstimators)[number], logp: number[][], ref: number[][]): number[][] => {
  const before = tf.memory().numTensors;
  const [a, b] = [tf.tensor2d(logp), tf.tensor2d(ref)];
  const k = e.estimate(a, b);
  const out = k.arraySync();
  tf.dispose([a, b, k]);
  expect(tf.memory().numTensors).toBe(before);
  return out;
};

describe('KL estimators', () => {
  it('are named k1, abs, k2, k3', () => {
    expect(klEstimators.map((e) => e.name)).toEqual(['k1', 'abs', 'k2', 'k3']);
  });

  it('reproduce algorithms.md §3: logp −1.0, ref −1.2', () => {
    expectClose(run(k1, [[-1.0]], [[-1.2]]), [[0.2]]);
    expectClose(run(absKl, [[-1.0]], [[-1.2]]), [[0.2]]);
    expectClose(run(k2, [[-1.0]], [[-1.2]]), [[0.02]]);
    expectClose(run(k3, [[-1.0]], [[-1.2]]), [[0.018731]]);
  });

  it('k1 is signed, abs and k2 are not; k3 is 0 when the policies agree', () => {
    expectClose(run(k1, [[-1.2, -0.5]], [[-1.0, -0.5]]), [[-0.2, 0]]);
    expectClose(run(absKl, [[-1.2]], [[-1.0]]), [[0.2]]);
    expectClose(run(k2, [[-1.2]], [[-1.0]]), [[0.02]]);
    // δ = ref − logp = 0.2: exp(0.2) − 0.2 − 1 = 0.021403
    expectClose(run(k3, [[-1.2, -0.5]], [[-1.0, -0.5]]), [[0.021403, 0]]);
  });

  it("k3 clamps δ to [−20, 20] and the result to [−10, 10] (verl's low_var_kl)", () => {
    // δ = −30 → −20: exp(−20) + 20 − 1 ≈ 19 → 10; δ = 30 → 20: exp(20) − 21 → 10. Finite either way.
    const out = run(k3, [[0, -30, -1e9]], [[-30, 0, 0]]);
    expectClose(out, [[10, 10, 10]]);
  });
});
