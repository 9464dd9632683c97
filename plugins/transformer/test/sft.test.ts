import * as tf from '@tensorflow/tfjs';
import { Rng } from '@grpo/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createPolicy, sft, sftLoss, type SftExample } from '../src/index.js';
import { TINY, charTokenizer, logSoftmax, naiveLogits, tinyPolicy, useWasm, weightValues } from './helpers.js';

beforeAll(useWasm);

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
    const batch = {
      prompts: [
        [1, 5, 6, 7],
        [1, 8],
      ],
      completions: [
        [9, 2],
        [10, 11, 12],
      ],
    };
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
