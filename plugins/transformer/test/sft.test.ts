import * as tf from '@tensorflow/tfjs';
import { Rng } from '@grpo/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, clipByGlobalNorm, cosineLr, createPolicy, sft, sftLoss, type SftExample } from '../src/index.js';
import { TINY, charTokenizer, logSoftmax, naiveLogits, tinyPolicy, useWasm, weightValues } from './helpers.js';

beforeAll(useWasm);

describe('optimizer pieces', () => {
  it('cosineLr warms up linearly, then decays by a cosine to minLrRatio·lr', () => {
    const o = { lr: 1, warmupSteps: 4, totalSteps: 14, minLrRatio: 0.1 };
    expect([0, 1, 2, 3].map((s) => cosineLr(s, o))).toEqual([0.25, 0.5, 0.75, 1]);
    expect(cosineLr(4, o)).toBeCloseTo(1, 12);
    expect(cosineLr(9, o)).toBeCloseTo(0.1 + 0.45 * (1 + Math.cos(Math.PI / 2)), 12);
    expect(cosineLr(14, o)).toBeCloseTo(0.1, 12);
    expect(cosineLr(20, o)).toBeCloseTo(0.1, 12);
  });

  it('clipByGlobalNorm scales all gradients by maxNorm / ‖g‖ only when above maxNorm', () => {
    tf.tidy(() => {
      const g = [tf.tensor1d([3, 0]), tf.tensor2d([[0, 4]])]; // ‖g‖ = 5
      const { grads, norm } = clipByGlobalNorm(g, 1);
      expect(norm.dataSync()[0]).toBeCloseTo(5, 5);
      expect(Array.from(grads[0]?.dataSync() ?? [])).toEqual([expect.closeTo(0.6, 5), 0]);
      expect(Array.from(grads[1]?.dataSync() ?? [])).toEqual([0, expect.closeTo(0.8, 5)]);
      const big = clipByGlobalNorm(g, 10);
      expect(Array.from(big.grads[0]?.dataSync() ?? [])).toEqual([3, 0]);
    });
  });

  it('AdamW matches a hand computation of two steps with decoupled weight decay', () => {
    const p = tf.variable(tf.tensor2d([[1, -2]]));
    const opt = new AdamW({ beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 });
    const n0 = tf.memory().numTensors;
    const grads = [[0.5, -1], [0.1, 0.3]];
    let x = [1, -2];
    const m = [0, 0];
    const v = [0, 0];
    grads.forEach((g, t) => {
      const gt = tf.tensor2d([g]);
      opt.apply([p], [gt], 0.01);
      gt.dispose();
      x = x.map((xi, i) => {
        m[i] = 0.9 * (m[i] as number) + 0.1 * (g[i] as number);
        v[i] = 0.99 * (v[i] as number) + 0.01 * (g[i] as number) ** 2;
        const mh = (m[i] as number) / (1 - 0.9 ** (t + 1));
        const vh = (v[i] as number) / (1 - 0.99 ** (t + 1));
        return xi - 0.01 * (mh / (Math.sqrt(vh) + 1e-8) + 0.1 * xi);
      });
    });
    const got = p.dataSync();
    expect(got[0]).toBeCloseTo(x[0] as number, 6);
    expect(got[1]).toBeCloseTo(x[1] as number, 6);
    // Two moment variables were created; nothing else stays behind.
    expect(tf.memory().numTensors).toBe(n0 + 2);
    opt.dispose();
    p.dispose();
  });
});

describe('sft', () => {
  it('learns a copy task on wasm (loss falls, held-out loss falls) with a constant tensor count', async () => {
    expect(tf.getBackend()).toBe('wasm');
    const rng = new Rng(3);
    const make = (n: number): SftExample[] =>
      Array.from({ length: n }, () => {
        const s = Array.from({ length: 3 + rng.int(3) }, () => 'abcdef'[rng.int(6)]).join('');
        return { prompt: `${s}=`, completion: s };
      });
    const train = make(96);
    const evalSet = make(24);
    const policy = createPolicy({ model: { dModel: 32, nLayers: 2, nHeads: 4, maxSeqLen: 24 }, tokenizer: charTokenizer(), seed: 1 });
    const before = sftLoss(policy, {
      prompts: evalSet.map((e) => policy.encodePrompt((e as { prompt: string }).prompt)),
      completions: evalSet.map((e) => policy.tokenizer.encode((e as { completion: string }).completion, { addEos: true })),
    });
    const initialEval = before.dataSync()[0] as number;
    before.dispose();
    const counts: number[] = [];
    const result = await sft(policy, {
      train,
      eval: evalSet,
      steps: 80,
      batchSize: 16,
      learningRate: 1e-2,
      warmupSteps: 5,
      weightDecay: 0.01,
      evalEvery: 40,
      seed: 2,
      onStep: () => counts.push(tf.memory().numTensors),
    });
    expect(result.history).toHaveLength(80);
    // Optimizer moments are created on the first step; afterwards the count is constant.
    expect(new Set(counts.slice(1)).size).toBe(1);
    const first = result.history.slice(0, 5).reduce((s, r) => s + r.loss, 0) / 5;
    const last = result.history.slice(-5).reduce((s, r) => s + r.loss, 0) / 5;
    expect(last).toBeLessThan(0.6 * first);
    expect(result.evalHistory.map((e) => e.step)).toEqual([40, 80]);
    expect(result.evalHistory.at(-1)?.loss).toBeLessThan(0.6 * initialEval);
    expect(result.history[0]?.lr).toBeCloseTo(1e-2 / 5, 10);
    expect(result.history.every((r) => Number.isFinite(r.gradNorm) && r.gradNorm > 0)).toBe(true);
    policy.dispose();
  });

  it('is the mean negative log-likelihood of completion tokens only (prompt tokens masked)', () => {
    const policy = tinyPolicy(TINY, 5);
    const ref = weightValues(policy);
    const batch = { prompts: [[1, 5, 6, 7], [1, 8]], completions: [[9, 2], [10, 11, 12]] };
    const n0 = tf.memory().numTensors;
    const loss = sftLoss(policy, batch);
    const got = loss.dataSync()[0] as number;
    loss.dispose();
    expect(tf.memory().numTensors).toBe(n0);
    let completionNll = 0;
    let allNll = 0;
    let allCount = 0;
    batch.prompts.forEach((p, b) => {
      const seq = [...p, ...(batch.completions[b] as number[])];
      const logits = naiveLogits(policy.model.cfg, ref, seq);
      for (let t = 1; t < seq.length; t++) {
        const nll = -(logSoftmax(logits[t - 1] as number[])[seq[t] as number] as number);
        allNll += nll;
        allCount++;
        if (t >= p.length) completionNll += nll;
      }
    });
    expect(Math.abs(got - completionNll / 5)).toBeLessThan(1e-4);
    expect(Math.abs(got - allNll / allCount)).toBeGreaterThan(1e-2);
    policy.dispose();
  });
});
