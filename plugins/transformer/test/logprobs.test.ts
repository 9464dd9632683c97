import * as tf from '@tensorflow/tfjs';
import type { TokenBatch } from '@grpo/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { bmm } from '../src/kernels.js';
import { TINY, logSoftmax, naiveLogits, tinyPolicy, useWasm, weightValues } from './helpers.js';

beforeAll(useWasm);

const batch: TokenBatch = {
  prompts: [[1, 5, 6, 7], [1], [1, 8, 9, 10, 11, 12, 13]],
  completions: [[14, 15, 2], [4, 5, 6, 7, 8, 9], []],
};

describe('bmm (XNNPACK batched matmul kernel)', () => {
  it('equals a hand-written product and its gradients', () => {
    const [N, M, K, P] = [3, 4, 5, 2];
    const a = Float32Array.from({ length: N * M * K }, (_, i) => Math.sin(i * 1.3));
    const b = Float32Array.from({ length: N * K * P }, (_, i) => Math.cos(i * 0.7));
    const gy = Float32Array.from({ length: N * M * P }, (_, i) => ((i % 5) - 2) / 3);
    const at = (x: Float32Array, i: number) => x[i] as number;
    const n0 = tf.memory().numTensors;
    const [y, ga, gb] = tf.tidy(() => {
      const A = tf.tensor3d(a, [N, M, K]);
      const B = tf.tensor3d(b, [N, K, P]);
      const f = (x: tf.Tensor, z: tf.Tensor) => tf.sum(tf.mul(bmm(x as tf.Tensor3D, z as tf.Tensor3D), tf.tensor3d(gy, [N, M, P])));
      const [dA, dB] = tf.grads(f)([A, B]);
      return [bmm(A, B).dataSync(), (dA as tf.Tensor).dataSync(), (dB as tf.Tensor).dataSync()];
    });
    expect(tf.memory().numTensors).toBe(n0);
    for (let n = 0; n < N; n++)
      for (let m = 0; m < M; m++)
        for (let p = 0; p < P; p++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += at(a, (n * M + m) * K + k) * at(b, (n * K + k) * P + p);
          expect(y[(n * M + m) * P + p]).toBeCloseTo(s, 5);
        }
    // dA = gy · Bᵀ, dB = Aᵀ · gy.
    for (let n = 0; n < N; n++)
      for (let m = 0; m < M; m++)
        for (let k = 0; k < K; k++) {
          let s = 0;
          for (let p = 0; p < P; p++) s += at(gy, (n * M + m) * P + p) * at(b, (n * K + k) * P + p);
          expect(ga[(n * M + m) * K + k]).toBeCloseTo(s, 5);
        }
    for (let n = 0; n < N; n++)
      for (let k = 0; k < K; k++)
        for (let p = 0; p < P; p++) {
          let s = 0;
          for (let m = 0; m < M; m++) s += at(a, (n * M + m) * K + k) * at(gy, (n * M + m) * P + p);
          expect(gb[(n * K + k) * P + p]).toBeCloseTo(s, 5);
        }
  });
});

describe.each([
  ['tied', TINY],
  ['GQA, untied', { ...TINY, nKvHeads: 2, tiedEmbeddings: false }],
])('tokenLogProbs (%s)', (_, model) => {
  it('equals the float64 reference per token, with entropy, zero at padding', () => {
    const policy = tinyPolicy(model);
    const ref = weightValues(policy);
    const n0 = tf.memory().numTensors;
    const { lp, ent } = tf.tidy(() => {
      const r = policy.tokenLogProbs(batch, { entropy: true });
      return { lp: r.logprobs.arraySync(), ent: (r.entropy as tf.Tensor2D).arraySync() };
    });
    expect(tf.memory().numTensors).toBe(n0);
    expect(lp).toHaveLength(3);
    expect(lp[0]).toHaveLength(6);
    batch.prompts.forEach((p, b) => {
      const c = batch.completions[b] as number[];
      const logits = naiveLogits(policy.model.cfg, ref, [...p, ...c]);
      for (let j = 0; j < 6; j++) {
        if (j >= c.length) {
          expect(lp[b]?.[j]).toBe(0);
          expect(ent[b]?.[j]).toBe(0);
          continue;
        }
        const dist = logSoftmax(logits[p.length - 1 + j] as number[]);
        expect(Math.abs((lp[b]?.[j] as number) - (dist[c[j] as number] as number))).toBeLessThan(1e-4);
        const h = -dist.reduce((s, l) => s + Math.exp(l) * l, 0);
        expect(Math.abs((ent[b]?.[j] as number) - h)).toBeLessThan(1e-4);
      }
    });
    policy.dispose();
  });

  it('has gradients that match central finite differences', () => {
    const policy = tinyPolicy(model, 3);
    const coef = [
      [0.7, -1.1, 0.4, 0.9, -0.3, 0.2],
      [-0.5, 0.8, 1.2, -0.6, 0.3, -0.9],
      [0, 0, 0, 0, 0, 0],
    ];
    const loss = () =>
      tf.tidy(() => {
        const { logprobs, entropy } = policy.tokenLogProbs(batch, { entropy: true });
        const c = tf.tensor2d(coef);
        return tf.add(tf.sum(tf.mul(logprobs, c)), tf.mul(0.5, tf.sum(tf.mul(entropy as tf.Tensor2D, c)))) as tf.Scalar;
      });
    const vars = policy.trainableVariables();
    const n0 = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(loss, vars);
    const g = new Map(vars.map((v) => [v.name, grads[v.name]?.dataSync() as Float32Array]));
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(n0);

    const eps = 4e-3;
    const checked: string[] = [];
    for (const v of vars) {
      const short = v.name.split('/')[1] as string;
      const gv = g.get(v.name) as Float32Array;
      // The two largest-gradient coordinates of each weight plus one fixed one.
      const idx = Array.from(gv.keys())
        .sort((a, b) => Math.abs(gv[b] as number) - Math.abs(gv[a] as number))
        .slice(0, 2);
      idx.push(Math.floor(gv.length / 3));
      for (const i of idx) {
        const base = v.dataSync().slice() as Float32Array;
        const at = (delta: number) => {
          const x = base.slice();
          x[i] = (x[i] as number) + delta;
          tf.tidy(() => v.assign(tf.tensor(x, v.shape)));
          const l = loss();
          const out = l.dataSync()[0] as number;
          l.dispose();
          return out;
        };
        const fd = (at(eps) - at(-eps)) / (2 * eps);
        tf.tidy(() => v.assign(tf.tensor(base, v.shape)));
        const an = gv[i] as number;
        expect(Math.abs(fd - an), `${short}[${i}]: analytic ${an}, finite difference ${fd}`).toBeLessThan(2e-3 + 2e-2 * Math.abs(an));
        checked.push(short);
      }
      // Every weight influences the loss.
      expect(Math.max(...Array.from(gv, Math.abs)), short).toBeGreaterThan(1e-3);
    }
    expect(new Set(checked).size).toBe(vars.length);
    policy.dispose();
  });
});
