/**
 * The pre-flight memory estimate (src/memory.ts): its figures for a tiny configuration worked out
 * by hand from the counts its doc lists, the check's error, and the policy refusing on the wasm
 * backend a pass and a generation that cannot fit, before anything runs.
 */
import * as tf from '@tensorflow/tfjs';
import { GrpoError } from '@grpo/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveModelConfig } from '../src/config.js';
import { resolveLoraConfig } from '../src/lora.js';
import {
  adapterParameterCount,
  checkFits,
  generationBytes,
  heapRoom,
  layerFloats,
  parameterCount,
  passBytes,
  projectionBytes,
  WASM_HEAP_LIMIT,
  type HeapRoom,
} from '../src/memory.js';
import { tinyPolicy, useWasm } from './helpers.js';

beforeAll(async () => {
  await useWasm();
});

// d 8, 2 heads of 4 over 1 key/value head (grouped-query), SwiGLU 16, 2 layers, vocabulary 32.
const CFG = resolveModelConfig({ vocabSize: 32, dModel: 8, nLayers: 2, nHeads: 2, nKvHeads: 1, ffnDim: 16, maxSeqLen: 16 }, 32);
const LORA = resolveLoraConfig({ r: 2, alpha: 4, targetModules: ['q_proj', 'v_proj'] });
const GiB = 2 ** 30;

describe('the estimate, worked by hand for a tiny configuration', () => {
  it('counts the parameters and the adapters', () => {
    // embed 32·8 = 256; a layer: norms 8 + 8, wq 8·8, wk 8·4, wv 8·4, wo 8·8, w1, w3, w2 8·16 each = 592; final norm 8; tied head.
    expect(parameterCount(CFG)).toBe(256 + 2 * 592 + 8);
    // q: 2·(8 + 8), v: 2·(8 + 4) per layer.
    expect(adapterParameterCount(CFG, LORA)).toBe(2 * (32 + 24));
  });

  it('counts a layer’s floats per token', () => {
    // 10d + 6 = 86; q (8): 6q = 48; k, v (4): 9·4 = 36; repeated k and v and the output: 4q = 32; SwiGLU 5·16 = 80.
    expect(layerFloats(CFG)).toBe(86 + 48 + 36 + 32 + 80);
    // LoRA on q and v: r + 3·out each: 2 + 24 and 2 + 12; dropout adds the mask and result of each input (2·8 twice).
    expect(layerFloats(CFG, LORA)).toBe(282 + 26 + 14);
    expect(layerFloats(CFG, { ...LORA, dropout: 0.1 })).toBe(322 + 32);
    // Qwen2's biases: q + 2·kv; Qwen3's q/k norms: 3·(q + kv) + 3·(heads + kv heads).
    expect(layerFloats({ ...CFG, qkvBias: true })).toBe(282 + 16);
    expect(layerFloats({ ...CFG, qkNorm: true })).toBe(282 + 36 + 9);
  });

  it('estimates a log-prob pass and a LoRA training pass of 2 × 3 tokens', () => {
    // N = 6 tokens. Forward (CALIBRATION: layers ×1, 3 score-sized tensors, 5 vocabulary-sized): layers
    // 6·(2·282 + 3·8 + 3 + 8 (gathered embedding))·4 bytes; scores 2 layers·3·2 sequences·2 heads·3·3·4; vocabulary 6·32·5·4.
    const forward = passBytes(CFG, 2, 3, { trainableParams: 0 });
    expect(forward.layers).toBe(6 * 599 * 4);
    expect(forward.attention).toBe(864);
    expect(forward.vocabulary).toBe(3840);
    expect(forward.gradients + forward.optimizer + forward.cache).toBe(0);
    expect(forward.total).toBe(14376 + 864 + 3840);

    // Training with the adapters and the entropy (layers ×1.9 with LoRA's 322 floats, 5 score-sized, 5 + 2 + 4 vocabulary-sized);
    // the gradients twice and AdamW's two moments of the 112 adapter parameters.
    const training = passBytes(CFG, 2, 3, { trainableParams: 112, entropy: true, lora: LORA });
    expect(training.layers).toBeCloseTo(6 * ((2 * 322 + 27) * 1.9 + 8) * 4, 6);
    expect(training.attention).toBe(2 * 5 * 2 * 2 * 9 * 4);
    expect(training.vocabulary).toBe(6 * 32 * 11 * 4);
    expect(training.gradients).toBe(896);
    expect(training.optimizer).toBe(896);
    expect(training.total).toBeCloseTo(30789.6 + 1440 + 8448 + 896 + 896, 6);
    // Once the moments exist they are resident, not needed again.
    expect(passBytes(CFG, 2, 3, { trainableParams: 112, entropy: true, lora: LORA, optimizerResident: true }).optimizer).toBe(0);
    // On wasm the tied head multiplies by a transposed copy of the embedding, which XNNPACK packs: 2·V·d floats more.
    expect(passBytes(CFG, 2, 3, { trainableParams: 0, transposedHead: true }).vocabulary).toBe(3840 + 2 * 32 * 8 * 4);
    // A full fine-tune's embedding is a one-hot product: 2·V more floats per token, not scaled.
    const full = passBytes(CFG, 2, 3, { trainableParams: 1448, trainableEmbedding: true });
    expect(full.layers).toBeCloseTo(6 * (591 * 1.9 + 2 * 32 + 8) * 4, 6);
  });

  it('counts the matrices XNNPACK packs on wasm: the layers’ projections, not the embedding', () => {
    // wq 8·8, wk 8·4, wv 8·4, wo 8·8, w1, w3, w2 8·16 each: 576 floats a layer.
    expect(projectionBytes(CFG)).toBe(2 * 576 * 4);
    expect(projectionBytes({ ...CFG, tiedEmbeddings: false })).toBe(2 * 576 * 4 + 8 * 32 * 4);
  });

  it('estimates a generation: the larger of the prefill and a decoding step at full length', () => {
    // 1 prompt of 3 tokens × G 2, 2 new tokens, preallocated caches: caches(rows, len) = 2 layers·2 (k, v)·rows·4·len·4 bytes.
    const shape = { prompts: 1, groupSize: 2, promptLength: 3, maxNewTokens: 2, preallocated: true };
    const e = generationBytes(CFG, shape);
    // Prefill: 3 tokens·(2·282 + 4·8 + 3)·4; scores 2·3·1·2·3·3·4; logits (1 + 2)·32·4; buffers caches(2, 2).
    expect(e.layers).toBe(3 * 599 * 4);
    expect(e.attention).toBe(432);
    expect(e.vocabulary).toBe(384);
    expect(e.cache).toBe(256);
    expect(e.total).toBe(7188 + 432 + 384 + 256);
    // Decoding (2 rows, 5 positions) is smaller here: 2·599·4 + 2·3·2·2·5·4 + 2·2·32·4 + caches(2, 2) + caches(1, 3) = 6232.
    // With 64 new tokens it is the larger (20,120 against the prefill's 16,196): the buffers grow with them.
    const long = generationBytes(CFG, { ...shape, maxNewTokens: 64 });
    expect(long.cache).toBe(64 * 2 * 64 + 64 * 1 * 3);
    expect(long.total).toBe(2 * 599 * 4 + 2 * 3 * 2 * 2 * 67 * 4 + 2 * 2 * 32 * 4 + 8192 + 192);
  });
});

describe('checkFits', () => {
  const room: HeapRoom = { backend: 'native', limit: 4 * GiB, inUse: 1.9 * GiB };
  const fix = (n: number | undefined, fits: string) => (n === undefined ? 'nothing fits' : `set train.microBatchSize to ${n} (${fits})`);

  it('says what was estimated, the limit, what is in use and the largest size that fits', () => {
    expect(() => checkFits(room, 'a training pass of 4 × 48 tokens', 4, (n) => n * 1.2 * GiB, fix)).toThrow(
      new GrpoError(
        "a training pass of 4 × 48 tokens needs ~4.8 GiB, over the 4 GiB WebAssembly heap of the 'native' backend (1.9 GiB in use): " +
          'set train.microBatchSize to 1 (~1.2 GiB)',
      ),
    );
    // 3 × 0.6 = 1.8 GiB fits in the 2.1 GiB left, 4 × 0.6 does not.
    expect(() => checkFits(room, 'x', 8, (n) => n * 0.6 * GiB, fix)).toThrow(/set train\.microBatchSize to 3 \(~1\.8 GiB\)$/);
    expect(() => checkFits(room, 'x', 2, () => 3 * GiB, fix)).toThrow(/in use\): nothing fits$/);
  });

  it('lets a pass that fits run, and checks nothing off the wasm-heap backends', () => {
    expect(() => checkFits(room, 'x', 4, () => 2 * GiB, fix)).not.toThrow();
    expect(() => checkFits(undefined, 'x', 4, () => 100 * GiB, fix)).not.toThrow();
  });
});

describe('the transformer policy on wasm', () => {
  it('reads the heap: its limit, the bytes in use (tensors and, on wasm, the packed weights) and its size', () => {
    const room = heapRoom(1000)!;
    expect(room).toMatchObject({ backend: 'wasm', limit: WASM_HEAP_LIMIT, inUse: tf.memory().numBytes + 1000 });
    expect(room.heapSize).toBeGreaterThan(0);
  });

  // 1,000-token sequences through 4 heads: the scores alone are 5·4·1000²·4 bytes per layer and sequence in a training pass.
  const LONG = { dModel: 16, nLayers: 2, nHeads: 4, ffnDim: 24, maxSeqLen: 1024 };
  const rows = (n: number, len: number) => ({
    prompts: Array.from({ length: n }, () => [1, 2]),
    completions: Array.from({ length: n }, (_, b) => Array.from({ length: len - 2 }, (_, i) => 3 + ((b + i) % 30))),
  });

  it('refuses a training pass that cannot fit before it runs, naming the micro-batch that fits', () => {
    const policy = tinyPolicy(LONG, 1, 0);
    const vars = policy.trainableVariables();
    const before = tf.memory().numTensors;
    const batch = rows(48, 1000);
    let caught: unknown;
    try {
      tf.variableGrads(() => tf.mean(policy.tokenLogProbs(batch, { entropy: true }).logprobs) as tf.Scalar, vars);
    } catch (error) {
      caught = error;
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(caught).toBeInstanceOf(GrpoError);
    const message = (caught as Error).message;
    expect(message).toMatch(
      /^a training pass of 48 × 1000 tokens through a 5 k-parameter transformer \(2 layers, d 16, vocabulary \d+\) needs ~[\d.]+ GiB, over the 4 GiB WebAssembly heap of the 'wasm' backend \([\d.]+ GiB in use\): set train\.microBatchSize to \d+ \(~[\d.]+ GiB; sequences per pass, the gradient is accumulated exactly\)$/,
    );
    // The size it names is the largest whose estimate fits beside what is in use.
    const n = Number(/microBatchSize to (\d+)/.exec(message)![1]);
    const free = WASM_HEAP_LIMIT - tf.memory().numBytes - projectionBytes(policy.config);
    const estimate = (k: number) =>
      passBytes(policy.config, k, 999, { trainableParams: parameterCount(policy.config), entropy: true, trainableEmbedding: true, transposedHead: true }).total;
    expect(estimate(n)).toBeLessThanOrEqual(free);
    expect(estimate(n + 1)).toBeGreaterThan(free);
    // The same pass outside a gradient (π_old's or π_ref's log-probs) holds no gradients and fits.
    const { logprobs } = tf.tidy(() => ({ logprobs: policy.tokenLogProbs(rows(1, 1000)).logprobs }));
    expect(logprobs.shape).toEqual([1, 998]);
    logprobs.dispose();
    policy.dispose();
  });

  it('refuses a generation that cannot fit before it runs, naming how many prompts fit', async () => {
    const policy = tinyPolicy(LONG, 1, 0);
    const prompts = Array.from({ length: 64 }, (_, p) => Array.from({ length: 1000 }, (_, i) => 3 + ((p + i) % 30)));
    const before = tf.memory().numTensors;
    await expect(policy.generateFromIds(prompts, 8, { maxNewTokens: 8, temperature: 1 })).rejects.toThrow(
      /^sampling 64 prompts × G 8 of 1000 \+ 8 tokens with a 5 k-parameter transformer .* needs ~[\d.]+ GiB, over the 4 GiB WebAssembly heap of the 'wasm' backend \([\d.]+ GiB in use\): sample at most \d+ prompts at a time \(~[\d.]+ GiB; train\.promptsPerStep, or the evaluation's batch\), or lower generation\.maxNewTokens$/,
    );
    expect(tf.memory().numTensors).toBe(before);
    policy.dispose();
  });
});
