import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { assembleContainer, Policy, Trainer, type ResolvedConfig } from '@grpo/core';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { createPolicy, LoraReferencePolicy, resolveLoraConfig, type TransformerPolicy } from '@grpo/plugin-transformer';
import { beforeAll, describe, expect, it } from 'vitest';
import { straightAndResumed } from './exact-resume.js';
import { tinyConfig, useWasm, withoutTimings } from './tiny-task.js';

beforeAll(useWasm);

const LORA = resolveLoraConfig({ r: 4, alpha: 8, dropout: 0.1, targetModules: 'all-linear' });

/** The tiny task's trainer over a LoRA policy on the same fresh tiny model as `tinyTrainer`'s. */
async function loraTrainer(config: ResolvedConfig | Promise<ResolvedConfig>): Promise<Trainer> {
  const base = createPolicy({ model: { dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 16 }, tokenizer: CharTokenizer.fromChars('abcd'), seed: 11 });
  const container = await assembleContainer(await config);
  container.bind(Policy).toConstantValue(base.withLora(LORA, 11));
  return Trainer.fromContainer(container);
}

const values = (vars: Iterable<tf.Variable>) => [...vars].map((v) => Array.from(v.dataSync()));

describe('GRPO with LoRA (tiny transformer on wasm)', () => {
  it('a step changes only the adapters; π_ref is the base with the adapters off; optimizer state only for the adapters; no tensor leaks', async () => {
    const trainer = await loraTrainer(tinyConfig({ train: { learningRate: 1e-2 }, algorithm: { kl: { beta: 0.04 } } }));
    const policy = trainer.policy as TransformerPolicy;
    const base = values(policy.weights.values());
    const adapters = values(policy.trainableVariables());
    expect(trainer.reference).toBeInstanceOf(LoraReferencePolicy);
    expect((trainer.reference as LoraReferencePolicy).adaptersOn).toBe(false);
    await trainer.trainStep();
    expect(values(policy.weights.values())).toEqual(base);
    // With B = 0 the gradient of A is zero (∂L/∂A = xᵀ·(∂L/∂y)·Bᵀ), so the first step moves every B and no A.
    const changed = (now: number[][]) => now.map((v, i) => v.some((x, j) => x !== adapters[i]![j]));
    expect(changed(values(policy.trainableVariables()))).toEqual(adapters.map((_, i) => i % 2 === 1));
    // AdamW's moments: m and v for each adapter matrix, nothing for the base.
    const state = trainer.getOptimizerState();
    expect(Object.values(state.tensors).reduce((n, t) => n + t.data.length, 0)).toBe(2 * adapters.reduce((n, a) => n + a.length, 0));
    const before = tf.memory().numTensors;
    await trainer.trainStep();
    await trainer.trainStep();
    expect(tf.memory().numTensors).toBe(before);
    expect(values(policy.weights.values())).toEqual(base);
    expect(changed(values(policy.trainableVariables())).every(Boolean)).toBe(true);
    trainer.dispose();
  });

  it('resumes exactly: 4 steps straight equal 2 + checkpoint + resume + 2 (dropout on, reference reset at step 3)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'grpo-lora-resume-'));
    const config = tinyConfig({ train: { steps: 4, checkpointEvery: 2, learningRate: 1e-2 }, algorithm: { kl: { beta: 0.04, refResetEvery: 3 } } }, dir);

    const adapters: Record<string, number[][]> = {};
    const runs = await straightAndResumed(
      () => loraTrainer(config),
      dir,
      2,
      (which, trainer) => (adapters[which] = values(trainer.policy.trainableVariables())),
    );
    expect(adapters.resumed).toEqual(adapters.straight);
    const a = runs.straight.map(withoutTimings);
    const b = runs.resumed.map(withoutTimings);
    expect(b.map((m) => m.step)).toEqual([0, 1, 2, 3]);
    expect(b).toEqual(a);
    expect(a.some((m) => (m.kl ?? 0) !== 0)).toBe(true);
  });
});
