/**
 * Backend conformance: the same forward pass, backward pass and optimizer step of a tiny
 * transformer give the same numbers on every installed tfjs backend. The pure-JS `cpu` backend
 * is the reference; every other backend is compared with it (1e-4, relative to magnitudes ≥ 1).
 *
 * tfjs has one global backend, so each case switches with the backend plugin's `setupBackend`
 * and results are gathered as plain arrays. Backends that are not installed (or cannot start
 * here) are skipped, with the reason printed.
 */
import { AdamW, BackendUnavailableError, type TokenBatch } from '@grpo/core';
import { setupBackend as setupCpu } from '@grpo/plugin-backend-cpu';
import { setupBackend as setupNative } from '@grpo/plugin-backend-native';
import { setupBackend as setupTfjsNode } from '@grpo/plugin-backend-tfjs-node';
import { setupBackend as setupTfjsNodeGpu } from '@grpo/plugin-backend-tfjs-node-gpu';
import { setupBackend as setupWasm } from '@grpo/plugin-backend-wasm';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { createPolicy } from '@grpo/plugin-transformer';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

interface Results {
  logprobs: number[][];
  entropy: number[][];
  loss: number;
  grads: Record<string, number[]>;
  updated: Record<string, number[]>;
}

const tokenizer = CharTokenizer.fromCorpus(['abcdefgh 0123456789']);
// Two sequences of different prompt and completion lengths, so padding and masking are exercised.
const batch: TokenBatch = {
  prompts: [tokenizer.encode('ab c', { addBos: true }), tokenizer.encode('h', { addBos: true })],
  completions: [tokenizer.encode('d01', { addEos: true }), tokenizer.encode('g 9 8e', { addEos: true })],
};

/** Forward, backward and one AdamW step of a tiny GQA transformer on the active backend. */
function run(): Results {
  const policy = createPolicy({
    model: { dModel: 16, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 24, maxSeqLen: 16 },
    tokenizer,
    seed: 7,
  });
  // Counted once the policy exists: the passes and the optimizer step must not leak tensors.
  const before = tf.memory().numTensors;
  // eps = 1e-3 keeps Adam's first step (≈ lr·g/(|g| + eps)) well conditioned where g ≈ 0, so
  // float rounding differences between backends stay small in the updated weights.
  const optimizer = new AdamW({ beta1: 0.9, beta2: 0.999, eps: 1e-3, weightDecay: 0.1 });
  try {
    const { logprobs, entropy } = tf.tidy(() => {
      const out = policy.tokenLogProbs(batch, { entropy: true });
      return { logprobs: out.logprobs.arraySync(), entropy: (out.entropy as tf.Tensor2D).arraySync() };
    });
    const vars = policy.trainableVariables();
    const { value, grads } = tf.variableGrads(() => {
      const out = policy.tokenLogProbs(batch);
      const count = batch.completions.reduce((n, c) => n + c.length, 0);
      return tf.neg(tf.div(tf.sum(out.logprobs), count)) as tf.Scalar;
    }, vars);
    const loss = value.dataSync()[0] as number;
    const gradArrays = Object.fromEntries(Object.entries(grads).map(([name, g]) => [name, Array.from(g.dataSync())]));
    optimizer.apply(vars, grads, 1e-2);
    tf.dispose([value, ...Object.values(grads)]);
    const updated = Object.fromEntries(vars.map((v) => [v.name, Array.from(v.dataSync())]));
    return { logprobs, entropy, loss, grads: gradArrays, updated };
  } finally {
    optimizer.dispose();
    expect(tf.memory().numTensors).toBe(before);
    policy.dispose();
  }
}

/** Variable names carry a per-instance prefix (`policy3/...`); compare by the part after it. */
function byWeight(record: Record<string, number[]>): Record<string, number[]> {
  return Object.fromEntries(Object.entries(record).map(([name, v]) => [name.replace(/^[^/]*\//, ''), v]));
}

function expectClose(actual: number[], expected: number[], what: string): void {
  expect(actual.length, what).toBe(expected.length);
  let worst = 0;
  let at = -1;
  actual.forEach((a, i) => {
    const e = expected[i] as number;
    const err = Math.abs(a - e) / Math.max(1, Math.abs(e));
    if (!(err <= worst)) [worst, at] = [err, i];
  });
  expect(worst, `${what}: worst relative error ${worst} at index ${at}`).toBeLessThanOrEqual(1e-4);
}

/**
 * The building blocks of the model, one by one (values and gradients), so that a mismatch in the
 * model test can be traced to an op. Inputs are fixed numbers; each case returns plain arrays.
 */
const opCases: Record<string, () => number[]> = {
  'matMul (batched, transposed) and its gradient': () =>
    tf.tidy(() => {
      const a = tf.tensor3d([0.5, -1, 2, 0.25, 3, -0.75, 1.5, 0.1, -2, 0.3, 0.7, -1.2], [2, 2, 3]);
      const b = tf.tensor3d([1, -0.5, 0.2, 0.9, -1.1, 0.4, 0.6, 2, -0.3, 0.8, 1.3, -0.6], [2, 2, 3]);
      const f = (x: tf.Tensor) => tf.sum(tf.square(tf.matMul(x as tf.Tensor3D, b, false, true)));
      return [...tf.matMul(a, b, false, true).dataSync(), ...tf.grad(f)(a).dataSync()];
    }),
  'softmax / logSoftmax with a causal mask, and the gradient': () =>
    tf.tidy(() => {
      const x = tf.tensor2d([
        [0.3, -1.2, 2.5],
        [1e-3, 4, -3],
      ]);
      const mask = tf.tensor2d([
        [0, -1e9, -1e9],
        [0, 0, -1e9],
      ]);
      const f = (t: tf.Tensor) =>
        tf.sum(
          tf.mul(
            tf.logSoftmax(tf.add(t, mask)),
            tf.tensor2d([
              [1, 0, 0],
              [0.3, 0.7, 0],
            ]),
          ),
        );
      return [...tf.softmax(tf.add(x, mask)).dataSync(), ...tf.grad(f)(x).dataSync()];
    }),
  'RMSNorm (rsqrt) and its gradient': () =>
    tf.tidy(() => {
      const x = tf.tensor2d([
        [0.5, -2, 1, 3],
        [1e-2, 0.2, -0.1, 0.05],
      ]);
      const gain = tf.tensor1d([1, 0.5, -1, 2]);
      const norm = (t: tf.Tensor) => tf.mul(tf.mul(t, tf.rsqrt(tf.add(tf.mean(tf.square(t), -1, true), 1e-5))), gain);
      return [
        ...norm(x).dataSync(),
        ...tf
          .grad((t: tf.Tensor) =>
            tf.sum(
              tf.mul(
                norm(t),
                tf.tensor2d([
                  [1, 2, 3, 4],
                  [-1, 0, 1, 0.5],
                ]),
              ),
            ),
          )(x)
          .dataSync(),
      ];
    }),
  'SwiGLU (sigmoid) and its gradient': () =>
    tf.tidy(() => {
      const g = tf.tensor1d([-3, -0.5, 0, 0.7, 4]);
      const u = tf.tensor1d([1, 2, -1, 0.5, -0.25]);
      const swiglu = (t: tf.Tensor) => tf.mul(tf.mul(t, tf.sigmoid(t)), u);
      return [
        ...swiglu(g).dataSync(),
        ...tf
          .grad((t: tf.Tensor) => tf.sum(swiglu(t)))(g)
          .dataSync(),
      ];
    }),
  'one-hot embedding lookup and its gradient': () =>
    tf.tidy(() => {
      const table = tf.tensor2d([
        [0.1, 0.2],
        [0.3, -0.4],
        [1.5, 0.6],
        [-0.7, 0.8],
      ]);
      const ids = tf.tensor1d([2, 0, 2, 3], 'int32');
      const lookup = (t: tf.Tensor) => tf.matMul(tf.oneHot(ids, 4), t as tf.Tensor2D);
      return [
        ...lookup(table).dataSync(),
        ...tf
          .grad((t: tf.Tensor) => tf.sum(tf.square(lookup(t))))(table)
          .dataSync(),
      ];
    }),
};

function runOps(): Record<string, number[]> {
  const before = tf.memory().numTensors;
  const out = Object.fromEntries(Object.entries(opCases).map(([name, f]) => [name, f()]));
  expect(tf.memory().numTensors).toBe(before);
  return out;
}

const backends: { name: string; setup: () => Promise<void> }[] = [
  { name: 'wasm', setup: () => setupWasm() },
  // Without its addon the native backend would fall back to wasm; here it must fail (and be skipped).
  { name: 'native', setup: () => setupNative('native', { fallback: false }) },
  { name: 'tfjs-node', setup: () => setupTfjsNode() },
  { name: 'tfjs-node-gpu', setup: () => setupTfjsNodeGpu() },
];

// Probe each backend once (at collection time, so `skipIf` knows), then return to cpu.
const availability = new Map<string, string | undefined>();
for (const b of backends) {
  try {
    await b.setup();
    availability.set(b.name, undefined);
  } catch (error) {
    if (!(error instanceof BackendUnavailableError)) throw error;
    availability.set(b.name, error.message);
  }
}
await setupCpu();

describe('backend conformance (reference: cpu)', () => {
  let reference: Results;
  let referenceOps: Record<string, number[]>;
  beforeAll(async () => {
    await setupCpu();
    reference = run();
    referenceOps = runOps();
  });

  it('the reference ops give the values computed by hand', () => {
    const ops = referenceOps;
    // [0.5, -1, 2]·[1, -0.5, 0.2] = 0.5 + 0.5 + 0.4 = 1.4
    expect(ops['matMul (batched, transposed) and its gradient']?.[0]).toBeCloseTo(1.4, 6);
    // Row 0 of the masked softmax keeps only its first entry.
    expect(ops['softmax / logSoftmax with a causal mask, and the gradient']?.slice(0, 3)).toEqual([1, 0, 0]);
    // SwiGLU at 0 is 0; d/dg [g·σ(g)] at 0 is σ(0) = 0.5, times u = -1.
    expect(Math.abs(ops['SwiGLU (sigmoid) and its gradient']?.[2] ?? 1)).toBe(0);
    expect(ops['SwiGLU (sigmoid) and its gradient']?.[7]).toBeCloseTo(-0.5, 6);
    // Rows 2, 0, 2, 3 of the table; the gradient of Σ lookup² w.r.t. row 2 is 2·2·[1.5, 0.6].
    const emb = ops['one-hot embedding lookup and its gradient'] ?? [];
    expect(emb.slice(0, 8).map((x) => Math.round(x * 1e6) / 1e6)).toEqual([1.5, 0.6, 0.1, 0.2, 1.5, 0.6, -0.7, 0.8]);
    expect(emb.slice(12, 14).map((x) => Math.round(x * 1e5) / 1e5)).toEqual([6, 2.4]);
  });

  it('the reference run is finite and actually trains', () => {
    expect(reference.logprobs.flat().every((x) => Number.isFinite(x) && x <= 0)).toBe(true);
    expect(reference.entropy.flat().every((x) => Number.isFinite(x) && x >= 0)).toBe(true);
    expect(Number.isFinite(reference.loss) && reference.loss > 0).toBe(true);
    // Padded completion positions are zero; the first completion has 4 tokens, the second 7.
    expect(reference.logprobs[0]?.slice(4)).toEqual([0, 0, 0]);
    expect(reference.logprobs[1]?.every((x) => x < 0)).toBe(true);
    const gradNorm = Math.hypot(...Object.values(reference.grads).flat());
    expect(gradNorm).toBeGreaterThan(0);
  });

  it('cpu is deterministic run to run', async () => {
    await setupCpu();
    const again = run();
    expect(again.logprobs).toEqual(reference.logprobs);
    expect(byWeight(again.updated)).toEqual(byWeight(reference.updated));
  });

  for (const { name, setup } of backends) {
    const reason = availability.get(name);
    if (reason !== undefined) console.log(`[conformance] skipping backend '${name}': ${reason}`);
    it.skipIf(reason !== undefined)(`${name} matches cpu: forward, backward and one AdamW step`, async () => {
      await setup();
      const result = run();
      await setupCpu();
      expectClose(result.logprobs.flat(), reference.logprobs.flat(), `${name} log-probs`);
      expectClose(result.entropy.flat(), reference.entropy.flat(), `${name} entropy`);
      expectClose([result.loss], [reference.loss], `${name} loss`);
      const grads = byWeight(result.grads);
      const refGrads = byWeight(reference.grads);
      expect(Object.keys(grads).sort()).toEqual(Object.keys(refGrads).sort());
      for (const [w, g] of Object.entries(refGrads)) expectClose(grads[w] as number[], g, `${name} gradient of ${w}`);
      const updated = byWeight(result.updated);
      for (const [w, v] of Object.entries(byWeight(reference.updated))) expectClose(updated[w] as number[], v, `${name} updated ${w}`);
    });
    it.skipIf(reason !== undefined)(`${name} matches cpu op by op`, async () => {
      await setup();
      const ops = runOps();
      await setupCpu();
      for (const [op, values] of Object.entries(referenceOps)) expectClose(ops[op] as number[], values, `${name} ${op}`);
    });
  }
});
