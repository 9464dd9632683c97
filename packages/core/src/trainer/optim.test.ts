import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, clipByGlobalNorm } from './adamw.js';
import { DataOrder } from './data-order.js';
import { learningRateAt } from './schedule.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('AdamW', () => {
  it('matches a hand-computed first and second step', () => {
    const w = tf.variable(tf.tensor2d([[1, -2]]), true, 'w');
    const gain = tf.variable(tf.tensor1d([1]), true, 'gain');
    const opt = new AdamW({ beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 });
    const before = tf.memory().numTensors;
    const g = tf.tensor2d([[0.5, -0.25]]);
    const gGain = tf.tensor1d([2]);
    opt.apply([w, gain], { w: g, gain: gGain }, 0.01);
    // Norm gains (rank 1) get no weight decay: 1 − 0.01·sign(2) = 0.99.
    expect(gain.dataSync()[0]).toBeCloseTo(0.99, 6);
    // Step 1: m̂ = g, v̂ = g², update = g/|g| = sign(g) (eps negligible); w ← w − lr(sign(g) + wd·w)
    // w0 = 1 − 0.01(1 + 0.1) = 0.989; w1 = −2 − 0.01(−1 − 0.2) = −1.988
    expect(Array.from(w.dataSync())).toEqual([expect.closeTo(0.989, 6), expect.closeTo(-1.988, 6)]);
    opt.apply([w, gain], { w: g, gain: gGain }, 0.01);
    // Step 2 with the same g: m̂ = g and v̂ = g² again, so the update is sign(g) again.
    expect(Array.from(w.dataSync())).toEqual([expect.closeTo(0.989 - 0.01 * (1 + 0.0989), 6), expect.closeTo(-1.988 - 0.01 * (-1 - 0.1988), 6)]);
    // Moments were created once; nothing else is left behind.
    expect(tf.memory().numTensors).toBe(before + 2 + 4); // g, gGain, and m and v of both variables
    tf.dispose([g, gGain]);
    opt.dispose();
    w.dispose();
    gain.dispose();
  });

  it('takes a learning rate per variable', () => {
    const w = tf.variable(tf.tensor2d([[1, -2]]), true, 'w-per-var');
    const gain = tf.variable(tf.tensor1d([1]), true, 'gain-per-var');
    const opt = new AdamW({ beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 });
    const g = tf.tensor2d([[0.5, -0.25]]);
    const gGain = tf.tensor1d([2]);
    // First step: the update is sign(g), scaled by each variable's own rate (0.01 for w, 0 for gain).
    opt.apply([w, gain], { 'w-per-var': g, 'gain-per-var': gGain }, (v) => (v === gain ? 0 : 0.01));
    expect(Array.from(w.dataSync())).toEqual([expect.closeTo(0.99, 6), expect.closeTo(-1.99, 6)]);
    expect(gain.dataSync()[0]).toBe(1);
    tf.dispose([g, gGain, w, gain]);
    opt.dispose();
  });

  it('matches a two-step hand computation with bias correction and decoupled decay', () => {
    const p = tf.variable(tf.tensor2d([[1, -2]]), true, 'two-step');
    const opt = new AdamW({ beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 });
    const grads = [
      [0.5, -1],
      [0.1, 0.3],
    ];
    let x = [1, -2];
    const m = [0, 0];
    const v = [0, 0];
    grads.forEach((g, t) => {
      const gt = tf.tensor2d([g]);
      opt.apply([p], { 'two-step': gt }, 0.01);
      gt.dispose();
      x = x.map((xi, i) => {
        m[i] = 0.9 * m[i]! + 0.1 * g[i]!;
        v[i] = 0.99 * v[i]! + 0.01 * g[i]! ** 2;
        const mh = m[i]! / (1 - 0.9 ** (t + 1));
        const vh = v[i]! / (1 - 0.99 ** (t + 1));
        return xi - 0.01 * (mh / (Math.sqrt(vh) + 1e-8) + 0.1 * xi);
      });
    });
    const got = p.dataSync();
    expect(got[0]).toBeCloseTo(x[0]!, 6);
    expect(got[1]).toBeCloseTo(x[1]!, 6);
    opt.dispose();
    p.dispose();
  });

  it('saves and restores its state exactly', () => {
    const w = tf.variable(tf.tensor1d([0.3, 0.7]), true, 'w2');
    const opt = new AdamW({ beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0 });
    const g1 = tf.tensor1d([0.1, -0.3]);
    const g2 = tf.tensor1d([-0.2, 0.05]);
    opt.apply([w], { w2: g1 }, 0.1);
    const state = opt.getState([w]);
    expect(Object.keys(state.tensors)).toEqual(['m/0', 'v/0']);
    // A twin variable with another name (as in a new process) picks the state up by position.
    const twin = tf.variable(w.clone(), true, 'w2-twin');
    const copy = new AdamW({ beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0 });
    copy.setState(state, [twin]);
    opt.apply([w], { w2: g2 }, 0.1);
    copy.apply([twin], { 'w2-twin': g2 }, 0.1);
    expect(copy.iterations).toBe(2);
    expect(Array.from(twin.dataSync())).toEqual(Array.from(w.dataSync()));
    // A fresh optimizer (no restored moments) would have moved differently.
    const fresh = tf.variable(tf.tensor1d([0.3, 0.7]), true, 'w2-fresh');
    const other = new AdamW({ beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0 });
    other.apply([fresh], { 'w2-fresh': g1 }, 0.1);
    const freshTwin = tf.variable(fresh.clone(), true, 'w2-fresh-twin');
    new AdamW({ beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0 }).apply([freshTwin], { 'w2-fresh-twin': g2 }, 0.1);
    expect(Array.from(freshTwin.dataSync())).not.toEqual(Array.from(w.dataSync()));
    expect(() => copy.setState({ step: 1, tensors: { 'm/4': { shape: [2], data: new Float32Array(2) } } }, [w])).toThrow(
      /has 'm\/4', but the model has only 1 variables/,
    );
    expect(() => copy.setState({ step: 1, tensors: { 'm/0': { shape: [3], data: new Float32Array(3) } } }, [w])).toThrow(/shape \[3\]/);
    tf.dispose([g1, g2]);
    [opt, copy, other].forEach((o) => o.dispose());
    [w, twin, fresh, freshTwin].forEach((v) => v.dispose());
  });
});

describe('clipByGlobalNorm', () => {
  it('scales gradients to the max norm', () => {
    const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor1d([0, 4]) };
    const { grads: clipped, norm } = clipByGlobalNorm(grads, 1);
    expect(norm).toBeCloseTo(5);
    expect(Array.from(clipped.a!.dataSync())[0]).toBeCloseTo(0.6, 5);
    expect(Array.from(clipped.b!.dataSync())[1]).toBeCloseTo(0.8, 5);
    Object.values(clipped).forEach((g) => g.dispose());
  });
  it('leaves small gradients alone', () => {
    const grads = { a: tf.tensor1d([0.3, 0.4]) };
    const { grads: same, norm } = clipByGlobalNorm(grads, 1);
    expect(norm).toBeCloseTo(0.5);
    expect(same.a).toBe(grads.a);
    grads.a.dispose();
  });
});

describe('learningRateAt', () => {
  const base = { learningRate: 1, warmupSteps: 2, totalSteps: 12, minLrRatio: 0.1 } as const;
  it('warms up linearly', () => {
    expect(learningRateAt(0, { ...base, schedule: 'constant' })).toBe(0.5);
    expect(learningRateAt(1, { ...base, schedule: 'constant' })).toBe(1);
    expect(learningRateAt(7, { ...base, schedule: 'constant' })).toBe(1);
  });
  it('decays by cosine and linearly to the floor', () => {
    // After warmup, 10 decay steps: halfway (step 7) cosine gives min + (1 − min)/2 = 0.55.
    expect(learningRateAt(7, { ...base, schedule: 'cosine' })).toBeCloseTo(0.55);
    expect(learningRateAt(12, { ...base, schedule: 'cosine' })).toBeCloseTo(0.1);
    expect(learningRateAt(7, { ...base, schedule: 'linear' })).toBeCloseTo(0.55);
    expect(learningRateAt(4, { ...base, schedule: 'linear' })).toBeCloseTo(0.1 + 0.9 * 0.8);
  });
});

describe('DataOrder', () => {
  it('visits every index once per epoch, reproducibly from the seed and cursor alone', () => {
    const a = new DataOrder(10, 7);
    const epoch0 = a.take(0, 10);
    expect([...epoch0].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const epoch1 = a.take(10, 10);
    expect(epoch1).not.toEqual(epoch0);
    // A fresh order resumed at cursor 13 continues identically.
    expect(new DataOrder(10, 7).take(13, 5)).toEqual(a.take(13, 5));
    expect(new DataOrder(10, 8).take(0, 10)).not.toEqual(epoch0);
  });
});

describe('Rng state', () => {
  it('round-trips any state, including words with the top bit set', async () => {
    const { Rng } = await import('../util/rng.js');
    for (let seed = 0; seed < 50; seed++) {
      const a = new Rng(seed);
      for (let i = 0; i < seed; i++) a.next();
      const state = a.getState();
      expect(state).toMatch(/^[0-9a-f]{32}$/);
      const b = Rng.fromState(state);
      expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(Array.from({ length: 5 }, () => a.nextUint32()));
    }
  });
});
