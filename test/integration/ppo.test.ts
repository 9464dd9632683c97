import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { assembleContainer, Policy, Trainer, type GrpoConfigInput, type ResolvedConfig } from '@grpo/core';
import type { CriticParticipant } from '@grpo/plugin-ppo';
import ppo, { TransformerValueModel, type PpoOptions } from '@grpo/plugin-ppo';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { createPolicy, type TransformerPolicy } from '@grpo/plugin-transformer';
import { beforeAll, describe, expect, it } from 'vitest';
import { straightAndResumed } from './exact-resume.js';
import { tinyConfig, useWasm, withoutTimings } from './tiny-task.js';

beforeAll(useWasm);

/** The tiny task's config with PPO switched on by the plugin list alone. */
function ppoConfig(overrides: GrpoConfigInput = {}, options: PpoOptions = {}, outputDir?: string): Promise<ResolvedConfig> {
  return tinyConfig(overrides, outputDir, [ppo(options)]);
}

/** Like `tinyTrainer`, but the policy is bound after the plugins load, as `prepareContainer` does. */
async function ppoTrainer(
  config: ResolvedConfig | Promise<ResolvedConfig>,
): Promise<{ trainer: Trainer; policy: TransformerPolicy; critic: TransformerValueModel; participant: CriticParticipant; dispose(): void }> {
  const tokenizer = CharTokenizer.fromChars('abcd');
  const policy = createPolicy({ model: { dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 16 }, tokenizer, seed: 11 });
  const container = await assembleContainer(await config);
  container.bind(Policy).toConstantValue(policy);
  const trainer = await Trainer.fromContainer(container);
  const participant = trainer.components.find((c) => c.name === 'critic') as CriticParticipant;
  return {
    trainer,
    policy,
    participant,
    critic: participant.model as TransformerValueModel,
    dispose: () => {
      trainer.dispose();
      policy.dispose();
    },
  };
}

/** Metrics without anything that depends on wall-clock time (`step_time`, `tokens_per_sec`, `timing/*`). */
function deterministic(m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(withoutTimings(m)).filter(([k]) => !k.startsWith('timing/')));
}

async function steps(trainer: Trainer, n: number) {
  const out: Record<string, number>[] = [];
  for (let i = 0; i < n; i++) out.push(deterministic((await trainer.trainStep()).metrics));
  return out;
}

describe('PPO training loop (tiny transformer on wasm)', () => {
  it('plugins: [ppo()] alone switches to a critic, GAE and the ppo objective', async () => {
    const run = await ppoTrainer(ppoConfig());
    const critic = run.critic;
    expect(critic).toBeInstanceOf(TransformerValueModel);
    // The critic starts as a copy of the policy backbone: same embedding, not the same variables.
    const emb = critic.model.weights.get('embed.weight')!;
    const policyEmb = run.policy.weights.get('embed.weight')!;
    expect(emb).not.toBe(policyEmb);
    expect(Array.from(emb.dataSync())).toEqual(Array.from(policyEmb.dataSync()));
    const criticBefore = critic.trainableVariables().map((v) => Array.from(v.dataSync()));
    const [m] = await steps(run.trainer, 1);
    for (const key of [
      'value_loss',
      'value_clip_frac',
      'values/mean',
      'returns/mean',
      'policy_loss',
      'clip_ratio/low_mean',
      'critic/grad_norm',
      'advantages/raw_mean',
    ])
      expect(m, key).toHaveProperty([key]);
    expect(m!['critic/grad_norm']).toBeGreaterThan(0);
    const criticAfter = critic.trainableVariables().map((v) => Array.from(v.dataSync()));
    expect(criticAfter).not.toEqual(criticBefore);
    run.dispose();
  });

  it('raises the mean reward clearly', async () => {
    const run = await ppoTrainer(
      ppoConfig(
        { train: { steps: 40, promptsPerStep: 4, groupSize: 8, learningRate: 1e-2 }, algorithm: { kl: { beta: 0 } } },
        { critic: { learningRate: 3e-3 } },
      ),
    );
    const rewards = (await steps(run.trainer, 40)).map((m) => m.reward!);
    const first = rewards.slice(0, 5).reduce((a, b) => a + b) / 5;
    const last = rewards.slice(-5).reduce((a, b) => a + b) / 5;
    console.log(`tiny task (PPO): mean reward first 5 steps ${first.toFixed(3)}, last 5 steps ${last.toFixed(3)}`);
    expect(last).toBeGreaterThan(first + 0.3);
    run.dispose();
  });

  it('keeps the number of tensors constant across steps (μ = 2, mini- and micro-batches, KL in the reward)', async () => {
    const run = await ppoConfigTrainer();
    await run.trainer.trainStep(); // creates both optimizers' moments
    const before = tf.memory().numTensors;
    await run.trainer.trainStep();
    await run.trainer.trainStep();
    expect(tf.memory().numTensors).toBe(before);
    run.dispose();
  });

  it('builds a critic from scratch with its own size', async () => {
    const run = await ppoTrainer(ppoConfig({}, { critic: { model: { dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: 16 }, seed: 3, learningRate: 1e-3 } }));
    expect(run.critic.model.config.dModel).toBe(16);
    const [m] = await steps(run.trainer, 1);
    expect(Number.isFinite(m!.value_loss)).toBe(true);
    run.dispose();
  });

  it('resumes exactly with the critic, its optimizer and the adaptive KL β: 4 steps straight equal 2 + checkpoint + resume + 2', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ppo-resume-'));
    const config = ppoConfig(
      { train: { steps: 4, checkpointEvery: 2 }, algorithm: { kl: { beta: 0.05, inReward: true, estimator: 'k1' } } },
      { kl: { adaptive: { target: 0.01 } }, critic: { learningRate: 1e-3 } },
      dir,
    );

    const runs = await straightAndResumed(() => ppoTrainer(config), dir, 2);
    const a = runs.straight.map(deterministic);
    const b = runs.resumed.map(deterministic);
    expect(b.map((m) => m.step)).toEqual([0, 1, 2, 3]);
    // β moved (the observed KL is far from the target) and the resumed run continues from the saved β.
    expect(a[3]!['kl_in_reward/beta']).not.toBe(0.05);
    expect(b).toEqual(a);
  });

  it('says what is missing when the adaptive KL is asked for without KL in the reward', async () => {
    await expect(ppoTrainer(ppoConfig({}, { kl: { adaptive: { target: 1 } } }))).rejects.toThrow(/inReward/);
  });
});

function ppoConfigTrainer() {
  return ppoTrainer(
    ppoConfig({ train: { numIterations: 2, miniBatchSize: 8, microBatchSize: 4 }, algorithm: { kl: { beta: 0.04, inReward: true, estimator: 'k1' } } }),
  );
}
