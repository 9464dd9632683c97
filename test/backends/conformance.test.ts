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

const backends: { name: string; setup: () => Promise<void> }[] = [
  { name: 'wasm', setup: () => setupWasm() },
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
  beforeAll(async () => {
    await setupCpu();
    reference = run();
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
  }
});
