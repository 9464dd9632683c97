/**
 * Policy throughput on the default (wasm) backend, reference model: dModel 128, 4 layers,
 * 4 heads, context 128, a 64-token vocabulary.
 *
 * - generation: 64 sequences (8 prompts × G = 8) with 32 prompt tokens and 96 new tokens,
 *   with the KV cache and with full recompute;
 * - training: forward + backward + AdamW on a batch of 32 × 128 tokens.
 *
 * Prints a table and, as the last line, one JSON object. `BENCH_BACKEND=cpu` picks another
 * backend; `BENCH_PROFILE=1` adds a per-kernel time profile of one training step.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { Tokenizer } from '@grpo/core';
import { AdamW } from '@grpo/core';
import { createPolicy, type TransformerPolicy } from '../src/index.js';

const backend = process.env.BENCH_BACKEND ?? 'wasm';
await tf.setBackend(backend);
await tf.ready();

/** 64 tokens: PAD, BOS, EOS and 61 characters. */
const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.slice(0, 61);
const tokenizer: Tokenizer = {
  kind: 'bench',
  vocabSize: 64,
  padId: 0,
  bosId: 1,
  eosId: 2,
  encode: (text, o) => [...(o?.addBos ? [1] : []), ...[...text].map((c) => 3 + chars.indexOf(c)), ...(o?.addEos ? [2] : [])],
  decode: (ids) =>
    ids
      .filter((i) => i >= 3)
      .map((i) => chars[i - 3])
      .join(''),
  save: async () => {},
};

function makePolicy(): TransformerPolicy {
  return createPolicy({ model: { dModel: 128, nLayers: 4, nHeads: 4, maxSeqLen: 128 }, tokenizer, seed: 0 });
}

const prompts = Array.from({ length: 8 }, (_, i) => Array.from({ length: 31 }, (_, j) => chars[(i * 7 + j * 3) % 61]).join(''));
const genOptions = { maxNewTokens: 96, temperature: 1, seed: 1 };
const rows: [string, number, number][] = [];

async function benchGenerate(policy: TransformerPolicy, cache: boolean): Promise<number> {
  const run = () => (cache ? policy.generate(prompts, 8, genOptions) : policy.generateNoCache(prompts, 8, genOptions));
  // Warm-up (XNNPACK operator creation, wasm memory growth).
  await (cache
    ? policy.generate(prompts.slice(0, 2), 2, { ...genOptions, maxNewTokens: 4 })
    : policy.generateNoCache(prompts.slice(0, 2), 2, { ...genOptions, maxNewTokens: 4 }));
  // EOS can end a completion early; count the tokens actually generated.
  const t0 = performance.now();
  const out = await run();
  const secs = (performance.now() - t0) / 1000;
  const tokens = out.flat().reduce((n, c) => n + c.tokenIds.length, 0);
  rows.push([`generate (${cache ? 'KV cache' : 'no cache'})`, tokens / secs, secs]);
  return tokens / secs;
}

async function benchTrain(policy: TransformerPolicy, steps: number): Promise<number> {
  const B = 32;
  const T = 128;
  const batch = {
    prompts: Array.from({ length: B }, (_, b) => Array.from({ length: 32 }, (_, j) => 3 + ((b + j) % 61))),
    completions: Array.from({ length: B }, (_, b) => Array.from({ length: T - 32 }, (_, j) => 3 + ((b * 5 + j * 2) % 61))),
  };
  const vars = policy.trainableVariables();
  const opt = new AdamW({ beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });
  const step = () => {
    const { value, grads } = tf.variableGrads(() => {
      const { logprobs } = policy.tokenLogProbs(batch);
      return tf.neg(tf.mean(logprobs)) as tf.Scalar;
    }, vars);
    opt.update(vars, grads as Record<string, tf.Tensor>, { lr: 1e-4, maxGradNorm: 1 });
    return value;
  };
  const warm = step();
  await warm.data();
  warm.dispose();
  if (process.env.BENCH_PROFILE) {
    const prof = await tf.profile(() => {
      step().dispose();
    });
    const byKernel = new Map<string, number>();
    for (const k of prof.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (k.kernelTimeMs as number));
    console.log('profile (one training step, ms by kernel):');
    for (const [name, ms] of [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${name.padEnd(24)} ${ms.toFixed(1)}`);
  }
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const v = step();
    await v.data();
    v.dispose();
  }
  const secs = (performance.now() - t0) / 1000;
  opt.dispose();
  const tps = (steps * B * T) / secs;
  rows.push([`train (32×128, fwd+bwd+AdamW)`, tps, secs / steps]);
  return tps;
}

const policy = makePolicy();
const generateTokensPerSec = await benchGenerate(policy, true);
const generateTokensPerSecNoCache = await benchGenerate(policy, false);
const trainTokensPerSec = await benchTrain(policy, Number(process.env.BENCH_TRAIN_STEPS ?? 4));
policy.dispose();

console.log(`backend: ${tf.getBackend()}`);
console.log(`${'benchmark'.padEnd(36)}${'tokens/s'.padStart(12)}${'seconds'.padStart(12)}`);
for (const [name, tps, secs] of rows) console.log(`${name.padEnd(36)}${tps.toFixed(0).padStart(12)}${secs.toFixed(3).padStart(12)}`);
console.log(
  JSON.stringify({
    generateTokensPerSec: Math.round(generateTokensPerSec),
    generateTokensPerSecNoCache: Math.round(generateTokensPerSecNoCache),
    trainTokensPerSec: Math.round(trainTokensPerSec),
    backend: tf.getBackend(),
  }),
);
