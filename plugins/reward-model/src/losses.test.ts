import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { bceLoss, noisyAndLogProb, noisyAndLoss, preferenceLoss, selectEntries } from './losses.js';

beforeAll(async () => {
  if (tf.getBackend() !== 'wasm') await setupBackend('wasm');
});

// Hand computations in plain double-precision JS, written from the definitions (σ, log), not from
// the softplus forms the losses use.
const sigma = (z: number) => 1 / (1 + Math.exp(-z));
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Runs `f` on `inputs` and reads its result; `f` must leave no tensors behind but that result. */
function run<T extends tf.Tensor[]>(inputs: [...T], f: (...x: T) => tf.Tensor): number[] {
  const before = tf.memory().numTensors;
  const out = f(...(inputs as T));
  const data = Array.from(out.dataSync());
  out.dispose();
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose(inputs);
  return data;
}

describe('reward-model losses', () => {
  it('selectEntries picks entries by index (repeats allowed), and the gradient reaches each picked entry', () => {
    const flat = [[1], [2], [3], [4], [5]];
    expect(run([tf.tensor2d(flat)], (x) => selectEntries(x, [4, 0, 2, 0]))).toEqual([5, 1, 3, 1]);
    const grad = run([tf.tensor2d(flat)], (x) => tf.grad((v: tf.Tensor) => tf.sum(selectEntries(v as tf.Tensor2D, [1, 1, 3])))(x));
    expect(grad).toEqual([0, 2, 0, 1, 0]);
  });

  it('bceLoss: Σ w·[−y·log σ(z) − (1 − y)·log(1 − σ(z))]', () => {
    const z = [0.3, -1.2, 2.5, 0, -4];
    const y = [1, 0, 1, 0.25, 1];
    const w = [1, 0.5, 0.5, 2, 1 / 3];
    const expected = sum(z.map((zi, i) => w[i]! * (-y[i]! * Math.log(sigma(zi)) - (1 - y[i]!) * Math.log(1 - sigma(zi)))));
    const [loss] = run([tf.tensor1d(z), tf.tensor1d(y), tf.tensor1d(w)], bceLoss);
    expect(loss).toBeCloseTo(expected, 5);
    // One term: y = 1, z = 0 → log 2.
    expect(run([tf.tensor1d([0]), tf.tensor1d([1]), tf.tensor1d([1])], bceLoss)[0]).toBeCloseTo(Math.LN2, 6);
  });

  it('noisyAndLogProb: log Π σ(z_t) over the tokens each mask row selects', () => {
    const z = [0.5, -0.3, 2, 1.1];
    const mask = [
      [1, 1, 0, 0],
      [1, 1, 1, 1],
      [0, 0, 1, 0],
    ];
    const expected = mask.map((row) => Math.log(row.reduce((p, m, t) => (m ? p * sigma(z[t]!) : p), 1)));
    const logP = run([tf.tensor2d(z, [4, 1]), tf.tensor2d(mask)], noisyAndLogProb);
    expect(logP).toHaveLength(3);
    logP.forEach((v, k) => expect(v).toBeCloseTo(expected[k]!, 5));
  });

  it('noisyAndLoss: Σ w·[−y·log P − (1 − y)·log max(1 − P, 1e-6)], P = exp(log P)', () => {
    const logP = [-0.1, -2, -1e-9, -0.7];
    const y = [1, 0, 0, 0.5];
    const w = [1, 0.5, 1, 2];
    const expected = sum(logP.map((l, i) => w[i]! * (-y[i]! * l - (1 - y[i]!) * Math.log(Math.max(1 - Math.exp(l), 1e-6)))));
    // The third term (P ≈ 1, label 0) is capped at −log 1e-6 ≈ 13.8155 instead of growing without bound.
    const [loss] = run([tf.tensor1d(logP), tf.tensor1d(y), tf.tensor1d(w)], noisyAndLoss);
    expect(loss).toBeCloseTo(expected, 4);
    expect(run([tf.tensor1d([-1e-9]), tf.tensor1d([0]), tf.tensor1d([1])], noisyAndLoss)[0]).toBeCloseTo(-Math.log(1e-6), 4);
  });

  it('preferenceLoss: Σ −log σ(r_chosen − r_rejected)', () => {
    const chosen = [1.5, -0.5, 0, 7];
    const rejected = [0.5, 0.5, 3, -2];
    const expected = sum(chosen.map((c, i) => -Math.log(sigma(c - rejected[i]!))));
    const [loss] = run([tf.tensor1d(chosen), tf.tensor1d(rejected)], preferenceLoss);
    expect(loss).toBeCloseTo(expected, 5);
    // Equal scores: log 2 per pair.
    expect(run([tf.tensor1d([1, 1]), tf.tensor1d([1, 1])], preferenceLoss)[0]).toBeCloseTo(2 * Math.LN2, 6);
  });
});
