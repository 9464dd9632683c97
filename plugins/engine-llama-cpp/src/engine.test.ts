/**
 * The llama.cpp engine on real models: the stories260K Llama (../shared/models) exported to GGUF
 * (F32 and Q8_0) must give llama2.c's own greedy continuations (goldens.json) — which checks every
 * tensor's name, layout and the rotary permutation — the shipped SFT policy's samples must carry
 * llama.cpp log-probs within float noise of the trainer's (each sequence sampled from its own
 * logits), and the built-in task's char model trains through it after every weight reload.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig, type Completion, type Policy } from '@grpo/core';
import { encodeSafetensors } from '@grpo/core/checkpoint';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import { mathTaskParts, sftCheckpoint } from '@grpo/plugin-math-task';
import transformer, { createPolicyFromConfig, loadHfPolicy, resolveLoraConfig } from '@grpo/plugin-transformer';
import { permuteRope, quantizeQ4_0, readSafetensors, transpose } from './gguf.js';
import { LlamaCppEngine } from './engine.js';
import llamaCppEngine from './index.js';
import { tinyConfig, tinyTrainer } from '../../../test/integration/tiny-task.js';

const STORIES = path.resolve(import.meta.dirname, '../../../../shared/models/stories260k');
const engines: LlamaCppEngine[] = [];

beforeAll(async () => {
  await setupBackend('wasm');
});
afterAll(async () => {
  for (const e of engines) await e.close();
});

describe('GGUF layout helpers', () => {
  it('transposes row-major matrices and reorders each head from rotate-half to adjacent pairs', () => {
    expect([...transpose(Float32Array.from([1, 2, 3, 4, 5, 6]), 2, 3)]).toEqual([1, 4, 2, 5, 3, 6]);
    // Two heads of hd = 4, one column: rows [a0 a1 b0 b1] (halves a, b) become [a0 b0 a1 b1].
    expect([...permuteRope(Float32Array.from([0, 1, 2, 3, 10, 11, 12, 13]), 2, 1)]).toEqual([0, 2, 1, 3, 10, 12, 11, 13]);
  });
});

/** |log π_engine − log π_trainer| of every sampled token, the trainer's log-probs from one forward pass. */
function logpGaps(policy: Pick<Policy, 'tokenLogProbs'>, ids: readonly number[][], groups: readonly Completion[][]): number[] {
  const rows = groups.flatMap((group, i) => group.map((c) => ({ prompt: ids[i]!, c })));
  const trainer = tf.tidy(() => policy.tokenLogProbs({ prompts: rows.map((r) => r.prompt), completions: rows.map((r) => r.c.tokenIds) }).logprobs.arraySync());
  return rows.flatMap((r, k) => r.c.logprobs.map((lp, t) => Math.abs(lp - trainer[k]![t]!)));
}

/**
 * Whether the samples come from the trainer's distribution, without the engine's reported
 * probabilities: for x_t ~ π, E[log π(x_t) + H_t] = 0 at every position (H_t the trainer's entropy
 * there). Returns the mean of that sum per token and its standard error (per-sequence sums, so
 * tokens of one sequence may correlate).
 */
function samplingBias(policy: Policy, ids: readonly number[][], groups: readonly Completion[][]): { bias: number; se: number } {
  const rows = groups.flatMap((group, i) => group.map((c) => ({ prompt: ids[i]!, c })));
  const [logprobs, entropy] = tf.tidy(() => {
    const r = policy.tokenLogProbs({ prompts: rows.map((r) => r.prompt), completions: rows.map((r) => r.c.tokenIds) }, { entropy: true });
    return [r.logprobs.arraySync(), r.entropy!.arraySync()];
  });
  const sums = rows.map((r, k) => r.c.tokenIds.reduce((a, _, t) => a + logprobs[k]![t]! + entropy[k]![t]!, 0));
  const tokens = rows.reduce((a, r) => a + r.c.tokenIds.length, 0) / rows.length;
  const mean = sums.reduce((a, b) => a + b, 0) / sums.length;
  const sd = Math.sqrt(sums.reduce((a, b) => a + (b - mean) ** 2, 0) / (sums.length - 1));
  return { bias: mean / tokens, se: sd / Math.sqrt(sums.length) / tokens };
}

/** Q4_0 bytes decoded from the format (f16 scale d, then value j = d·(low nibble of byte j − 8), value j + 16 from its high nibble). */
function dequantizeQ4_0(bytes: Buffer): Float32Array {
  const out = new Float32Array((bytes.length / 18) * 32);
  for (let b = 0; b < bytes.length / 18; b++) {
    const bits = bytes.readUInt16LE(b * 18);
    const e = (bits >> 10) & 0x1f;
    const d = (bits & 0x8000 ? -1 : 1) * (e ? 2 ** (e - 15) * (1 + (bits & 0x3ff) / 1024) : 2 ** -14 * ((bits & 0x3ff) / 1024));
    for (let j = 0; j < 16; j++) {
      const q = bytes[b * 18 + 2 + j]!;
      out[b * 32 + j] = d * ((q & 15) - 8);
      out[b * 32 + 16 + j] = d * ((q >> 4) - 8);
    }
  }
  return out;
}

/**
 * stories260K with every matrix the Q4_0 export quantises (rows of a multiple of 32 values: Hugging
 * Face stores them `[out, in]`, so a row is a block's run) replaced by its Q4_0 round trip: the
 * weights llama.cpp computes with, loaded into the trainer.
 */
async function storiesQ4RoundTrip(): Promise<Policy> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'grpo-q4-'));
  try {
    const tensors = await readSafetensors(path.join(STORIES, 'model.safetensors'));
    const out: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
    for (const [name, { shape, data }] of tensors)
      out[name] = { dtype: 'F32', shape, data: shape.length === 2 && shape[1]! % 32 === 0 ? dequantizeQ4_0(quantizeQ4_0(data)) : data };
    await writeFile(path.join(dir, 'model.safetensors'), encodeSafetensors(out));
    await writeFile(path.join(dir, 'config.json'), await readFile(path.join(STORIES, 'config.json')));
    return await loadHfPolicy(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function sftPolicy(): Promise<Policy> {
  const config = await resolveConfig({ policy: { checkpoint: sftCheckpoint() } }, { source: 'test', defaults: [transformer()] });
  return createPolicyFromConfig(config);
}

describe('llama.cpp engine (node-llama-cpp 3.21.1, prebuilt CPU binary)', () => {
  it.each(['F32', 'Q8_0'] as const)("gives llama2.c's greedy tokens for stories260K exported to GGUF (%s)", async (weightType) => {
    const goldens = JSON.parse(readFileSync(path.join(STORIES, 'goldens.json'), 'utf8')) as { prompts: { ids: number[]; greedy: number[] }[] };
    const policy = await loadHfPolicy(STORIES);
    const dir = path.join(path.resolve(import.meta.dirname, '../../../runs'), `llama-cpp-test-${weightType}`);
    const engine = new LlamaCppEngine({ threads: 1, weightType, dir });
    engines.push(engine);
    expect(await engine.health()).toMatchObject({ ok: true });
    await engine.syncWeights(policy);
    // Q8_0 quantises the matrices with 64-wide rows (34 bytes per 32 values); the 172-wide FFN down
    // projection stays F32: the file is 0.43× the F32 one.
    const size = (await stat(path.join(dir, 'policy-0.gguf'))).size;
    expect(size).toBeGreaterThan(weightType === 'F32' ? 1_000_000 : 300_000);
    expect(size).toBeLessThan(weightType === 'F32' ? 1_200_000 : 500_000);
    const ids = goldens.prompts.map((p) => p.ids);
    const groups = await engine.generate(
      ids.map((x) => ({ text: '', ids: x })),
      1,
      { maxNewTokens: goldens.prompts[0]!.greedy.length, temperature: 0 },
    );
    groups.forEach((group, i) => expect(group[0]!.tokenIds).toEqual(goldens.prompts[i]!.greedy));
    // Greedy log-probs against the trainer's (measured max: F32 0.0019, Q8_0 0.079 nats).
    expect(Math.max(...logpGaps(policy, ids, groups))).toBeLessThan(weightType === 'F32' ? 0.01 : 0.25);
    policy.dispose();
  });

  it('computes with the Q4_0 weights it was given: log-probs match the trainer on the round-tripped weights, not the original ones', async () => {
    // The check of the 4-bit layout (nibble order, scale sign, the 8 offset): any slip there gives
    // other weights, and llama.cpp's log-probs would then match neither policy.
    const goldens = JSON.parse(readFileSync(path.join(STORIES, 'goldens.json'), 'utf8')) as { prompts: { ids: number[]; greedy: number[] }[] };
    const policy = await loadHfPolicy(STORIES);
    const rounded = await storiesQ4RoundTrip();
    const dir = path.join(path.resolve(import.meta.dirname, '../../../runs'), 'llama-cpp-test-Q4_0');
    const engine = new LlamaCppEngine({ threads: 1, weightType: 'Q4_0', dir });
    engines.push(engine);
    await engine.syncWeights(policy);
    // 204,288 values of 64-wide matrices at 18 bytes per 32 (114,912 bytes); the 172-wide FFN down
    // projections (55,040 values) and the norms stay F32 (223,000 bytes); then the vocabulary.
    const size = (await stat(path.join(dir, 'policy-0.gguf'))).size;
    expect(size).toBeGreaterThan(338_000);
    expect(size).toBeLessThan(370_000);
    const ids = goldens.prompts.map((p) => p.ids);
    const groups = await engine.generate(
      ids.map((x) => ({ text: '', ids: x })),
      1,
      { maxNewTokens: 64, temperature: 0 },
    );
    const toRounded = logpGaps(rounded, ids, groups);
    const toOriginal = logpGaps(policy, ids, groups);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    // Measured: to the round-tripped weights max 0.080, mean 0.011 nats (llama.cpp rounds the
    // activations to 8 bits for Q4_0 products, as for Q8_0); to the original max 1.12, mean 0.169.
    expect(Math.max(...toRounded)).toBeLessThan(0.25);
    expect(mean(toRounded)).toBeLessThan(0.03);
    expect(mean(toOriginal)).toBeGreaterThan(5 * mean(toRounded));
    policy.dispose();
    rounded.dispose();
  });

  it("gives a LoRA policy's numbers: the export merges its adapters into the base (stories260K, r 4 on every linear layer)", async () => {
    const goldens = JSON.parse(readFileSync(path.join(STORIES, 'goldens.json'), 'utf8')) as { prompts: { ids: number[] }[] };
    const policy = (await loadHfPolicy(STORIES)).withLora(resolveLoraConfig({ r: 4, alpha: 8, targetModules: 'all-linear' }), 1);
    // Adapters as after training: B away from its zero start (A is PEFT's uniform init).
    let seed = 7;
    tf.tidy(() => {
      for (const { b } of policy.adapters!.values())
        b.assign(
          tf.tensor(
            Float32Array.from({ length: b.size }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.2),
            b.shape,
          ),
        );
    });
    const engine = new LlamaCppEngine({ threads: 1, dir: path.join(path.resolve(import.meta.dirname, '../../../runs'), 'llama-cpp-test-lora') });
    engines.push(engine);
    await engine.syncWeights(policy);
    const ids = goldens.prompts.map((p) => p.ids);
    const groups = await engine.generate(
      ids.map((x) => ({ text: '', ids: x })),
      2,
      { maxNewTokens: 32, temperature: 1, seed: 3 },
    );
    // The policy computes x·W + s·(x·A)·B; llama.cpp the merged W + s·A·B: the same up to float32 rounding.
    const toLora = logpGaps(policy, ids, groups);
    const base = policy.referencePolicy();
    const toBase = logpGaps(base, ids, groups);
    // Measured: max 0.022, mean 0.0015 nats to the LoRA policy; max 8.3, mean 1.03 to its base.
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(Math.max(...toLora)).toBeLessThan(0.05);
    expect(mean(toLora)).toBeLessThan(0.005);
    // Without the adapters (what the export wrote before it merged them) the gaps are far larger.
    expect(mean(toBase)).toBeGreaterThan(100 * mean(toLora));
    base.dispose();
    policy.dispose();
  });

  it("samples every sequence of a group from its own logits, EOS included (the SFT policy's rollouts, 12 prompts × 8)", async () => {
    // Regression: node-llama-cpp samples a batch's sequences in parallel threads, and llama.cpp
    // reorders a batch's output rows lazily and not thread-safely when the batch lists its sequences
    // out of id order; sequences then got each other's logits now and then (tokens the model gives
    // e^-12…e^-18 sampled at probabilities near 1). Before the fix both seeds failed on a loaded
    // machine (2 of 3 seeds in general); the EOS check failed on every run (node-llama-cpp swallowed
    // the EOS token).
    const policy = await sftPolicy();
    const { train } = mathTaskParts({ seed: 0, trainSize: 12, testSize: 0 });
    const ids = Array.from({ length: 12 }, (_, i) => policy.encodePrompt(train.get(i).prompt));
    const engine = new LlamaCppEngine({ threads: 1 });
    engines.push(engine);
    await engine.syncWeights(policy);
    const maxNewTokens = 40;
    const all: Completion[][] = [];
    for (const seed of [0, 1]) {
      const groups = await engine.generate(
        ids.map((x) => ({ text: '', ids: x })),
        8,
        { maxNewTokens, temperature: 1, seed },
      );
      // F32 GGUF with llama.cpp's f16 KV cache: measured max 0.013 nats.
      expect(Math.max(...logpGaps(policy, ids, groups))).toBeLessThan(0.1);
      for (const c of groups.flat()) {
        if (c.finishReason === 'eos') expect(c.tokenIds.at(-1)).toBe(policy.tokenizer.eosId);
        else expect([c.finishReason, c.tokenIds.length]).toEqual(['length', maxNewTokens]);
      }
      expect(groups.flat().filter((c) => c.finishReason === 'eos').length).toBeGreaterThan(80);
      all.push(...groups);
    }
    // The sampled distribution itself is the trainer's (temperature, truncation, EOS), checked
    // without the engine's reported probabilities. Measured here 0.0103 ± 0.0044 per token (2.3
    // standard errors; over 1152 completions of 48 prompts 0.0006 ± 0.0022); the in-process sampler
    // gives 0.0043 ± 0.0049 on these prompts, and 0.018 (5.2 standard errors) at temperature 0.9.
    const { bias, se } = samplingBias(policy, [...ids, ...ids], all);
    expect(Math.abs(bias)).toBeLessThan(3.5 * se);
    policy.dispose();
    // ~15 s on an idle machine; a loaded one (load average 25 on 2 cores) took 75 s for 16 prompts.
  }, 120_000);

  it('trains the tiny task through llama.cpp, reloading the weights after every update', async () => {
    const config = await tinyConfig({ generation: { engine: 'llama.cpp' } }, 'runs/llama-cpp-test', [llamaCppEngine({ threads: 1 })]);
    const trainer = await tinyTrainer(config);
    expect(trainer.describe().engine).toBe('llama.cpp');
    const steps = [];
    for (let i = 0; i < 3; i++) steps.push((await trainer.trainStep()).metrics);
    for (const m of steps) {
      // llama.cpp's numbers differ from tfjs's only by float32 kernels once the weights are reloaded.
      expect(Math.abs(m['mismatch/mismatch_kl']!)).toBeLessThan(1e-3);
      expect(m['sampling/sampling_logp_difference/max']).toBeLessThan(1e-2);
      expect(m['timing/sync_weights']).toBeGreaterThan(0);
      expect(m['completions/mean_length']).toBeGreaterThan(0);
    }
    expect(steps[1]!.grad_norm).toBeGreaterThan(0);
    trainer.dispose();
    trainer.policy.dispose();
  });
});
