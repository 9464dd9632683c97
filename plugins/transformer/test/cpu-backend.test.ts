import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { TINY, logSoftmax, naiveLogits, tinyPolicy, weightValues } from './helpers.js';

// The same model on the plain cpu backend, where `bmm`/`gatherRows` fall back to tfjs ops.
beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

describe('on the cpu backend', () => {
  it('log-probs equal the float64 reference and cached greedy decoding equals recompute', async () => {
    expect(tf.getBackend()).toBe('cpu');
    const policy = tinyPolicy({ ...TINY, nKvHeads: 2 });
    const ref = weightValues(policy);
    const batch = {
      prompts: [[1, 5, 6], [1]],
      completions: [
        [7, 8],
        [9, 10, 11],
      ],
    };
    const lp = tf.tidy(() => policy.tokenLogProbs(batch).logprobs.arraySync());
    batch.prompts.forEach((p, b) => {
      const c = batch.completions[b] as number[];
      const logits = naiveLogits(policy.model.cfg, ref, [...p, ...c]);
      c.forEach((t, j) => expect(Math.abs((lp[b]?.[j] as number) - (logSoftmax(logits[p.length - 1 + j] as number[])[t] as number))).toBeLessThan(1e-4));
    });
    const n0 = tf.memory().numTensors;
    const opts = { maxNewTokens: 6, temperature: 0 };
    const a = await policy.generate(['ab', 'hello'], 3, opts);
    const b = await policy.generateNoCache(['ab', 'hello'], 3, opts);
    expect(a.map((g) => g.map((c) => c.tokenIds))).toEqual(b.map((g) => g.map((c) => c.tokenIds)));
    expect(tf.memory().numTensors).toBe(n0);
    policy.dispose();
  });
});
