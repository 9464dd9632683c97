import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

import { nativeUnavailableReason, setupBackend as setupNative } from '@grpo/plugin-backend-native';
import { beforeAll, describe, expect, it } from 'vitest';
import { straightAndResumed } from './exact-resume.js';
import { tinyConfig, tinyTrainer, useWasm, withoutTimings } from './tiny-task.js';

beforeAll(useWasm);

async function steps(trainer: Awaited<ReturnType<typeof tinyTrainer>>, n: number) {
  const out: Record<string, number>[] = [];
  for (let i = 0; i < n; i++) out.push(withoutTimings((await trainer.trainStep()).metrics));
  return out;
}

describe('GRPO training loop (tiny transformer on wasm)', () => {
  it('raises the mean reward clearly', async () => {
    const trainer = await tinyTrainer(
      tinyConfig({ train: { steps: 40, promptsPerStep: 4, groupSize: 8, learningRate: 1e-2 }, algorithm: { kl: { beta: 0 } } }),
    );
    const rewards = (await steps(trainer, 40)).map((m) => m.reward!);
    const first = rewards.slice(0, 5).reduce((a, b) => a + b) / 5;
    const last = rewards.slice(-5).reduce((a, b) => a + b) / 5;
    console.log(`tiny task: mean reward first 5 steps ${first.toFixed(3)}, last 5 steps ${last.toFixed(3)}`);
    expect(last).toBeGreaterThan(first + 0.3);
    trainer.dispose();
  });
});

// The loop's guarantees on every backend that can run here: no leaks, micro-batching that
// changes nothing, reproducibility and exact resume.
const backends: { name: string; unavailable?: string; setup: () => Promise<void> }[] = [
  { name: 'wasm', setup: useWasm },
  { name: 'native', unavailable: nativeUnavailableReason(), setup: () => setupNative('native', { fallback: false }) },
];
for (const { name, unavailable, setup } of backends) {
  if (unavailable) console.log(`[grpo-loop] skipping backend '${name}': ${unavailable}`);
  describe.skipIf(unavailable !== undefined)(`GRPO training loop (tiny transformer on ${name})`, () => {
    beforeAll(setup);

    it('keeps the number of tensors constant across steps', async () => {
      const trainer = await tinyTrainer(tinyConfig({ train: { numIterations: 2, miniBatchSize: 8, microBatchSize: 4 } }));
      await trainer.trainStep(); // creates optimizer moments
      const before = tf.memory().numTensors;
      await trainer.trainStep();
      await trainer.trainStep();
      expect(tf.memory().numTensors).toBe(before);
      trainer.dispose();
    });

    it('gives the same update with one batch of 16 as with micro-batches of 4 (gradient accumulation)', async () => {
      for (const lossAggregation of ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum', 'constant']) {
        const whole = await tinyTrainer(tinyConfig({ algorithm: { lossAggregation, kl: { beta: 0.04 } } }));
        const split = await tinyTrainer(tinyConfig({ algorithm: { lossAggregation, kl: { beta: 0.04 } }, train: { microBatchSize: 4 } }));
        const [a] = await steps(whole, 1);
        const [b] = await steps(split, 1);
        expect(b!.loss).toBeCloseTo(a!.loss!, 5);
        expect(b!.grad_norm).toBeCloseTo(a!.grad_norm!, 4);
        const wa = whole.policy.trainableVariables().map((v) => Array.from(v.dataSync()));
        const wb = split.policy.trainableVariables().map((v) => Array.from(v.dataSync()));
        wa.forEach((w, i) => w.forEach((x, j) => expect(Math.abs(x - wb[i]![j]!)).toBeLessThan(1e-5)));
        whole.dispose();
        split.dispose();
      }
    });

    it('is reproducible: the same seed gives the same metrics', async () => {
      const a = await steps(await tinyTrainer(tinyConfig()), 3);
      const b = await steps(await tinyTrainer(tinyConfig()), 3);
      expect(b).toEqual(a);
      const c = await steps(await tinyTrainer(tinyConfig({ seed: 6 })), 3);
      expect(c).not.toEqual(a);
    });

    it('resumes exactly: 4 steps straight equal 2 + checkpoint + resume + 2', async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'grpo-resume-'));
      const config = tinyConfig({ train: { steps: 4, checkpointEvery: 2 }, algorithm: { kl: { beta: 0.04, refResetEvery: 3 } } }, dir);

      const runs = await straightAndResumed(() => tinyTrainer(config), dir, 2);
      const a = runs.straight.map(withoutTimings);
      const b = runs.resumed.map(withoutTimings);
      expect(b.map((m) => m.step)).toEqual([0, 1, 2, 3]);
      expect(b).toEqual(a);
    });
  });
}
