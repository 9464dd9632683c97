import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DirectoryCheckpointer, type ScoredGroup } from '@grpo/core';
import { maskTruncated } from '@grpo/plugin-grpo';
import type { FrozenTransformerPolicy, TransformerPolicy } from '@grpo/plugin-transformer';
import { beforeAll, describe, expect, it } from 'vitest';
import { tinyConfig, tinyTrainer, useWasm } from './tiny-task.js';

beforeAll(useWasm);

const values = (weights: Map<string, { dataSync(): ArrayLike<number> }>) => [...weights.values()].map((v) => Array.from(v.dataSync()));

describe('reference policy options', () => {
  it('β = 0 loads no reference model and logs no KL', async () => {
    const trainer = await tinyTrainer(tinyConfig({ algorithm: { kl: { beta: 0 } } }));
    expect(trainer.reference).toBeUndefined();
    const { metrics } = await trainer.trainStep();
    expect(metrics.kl ?? 0).toBe(0);
    trainer.dispose();
  });

  it('resets π_ref to π_θ every refResetEvery steps (DeepSeekMath iterative scheme)', async () => {
    const trainer = await tinyTrainer(tinyConfig({ algorithm: { kl: { beta: 0.04, refResetEvery: 2 } } }));
    const ref = trainer.reference as FrozenTransformerPolicy;
    const policy = trainer.policy as TransformerPolicy;
    const initial = values(ref.weights);
    await trainer.trainStep();
    expect(values(ref.weights)).toEqual(initial); // not yet
    expect(values(policy.weights)).not.toEqual(initial);
    await trainer.trainStep();
    expect(values(ref.weights)).toEqual(values(policy.weights)); // reset after step 2
    trainer.dispose();
  });

  it('mixes π_ref ← α·π_θ + (1 − α)·π_ref every τ steps (TR-DPO)', async () => {
    const trainer = await tinyTrainer(tinyConfig({ algorithm: { kl: { beta: 0.04, trDpoAlpha: 0.6, trDpoTau: 1 } } }));
    const ref = trainer.reference as FrozenTransformerPolicy;
    const before = values(ref.weights);
    await trainer.trainStep();
    const theta = values((trainer.policy as TransformerPolicy).weights);
    values(ref.weights).forEach((w, i) => w.forEach((x, j) => expect(x).toBeCloseTo(0.6 * theta[i]![j]! + 0.4 * before[i]![j]!, 5)));
    trainer.dispose();
  });
});

describe('DAPO options', () => {
  it('dynamic sampling keeps only groups with reward variance, sampling more rounds up to the cap', async () => {
    const trainer = await tinyTrainer(tinyConfig({ algorithm: { dynamicSampling: { enabled: true, maxRounds: 2 } } }));
    const { metrics } = await trainer.trainStep();
    expect(metrics['dynamic_sampling/rounds']).toBeGreaterThanOrEqual(0);
    expect(metrics['dynamic_sampling/rounds']).toBeLessThanOrEqual(2);
    expect(metrics['dynamic_sampling/kept_groups']).toBeGreaterThan(0);
    trainer.dispose();
  });

  it('overlong shaping lowers the reward of completions near the length limit', async () => {
    // maxNewTokens 6 with a buffer of 6: every completion of n tokens gets −(n − 0)/6 ≤ 0.
    const plain = await tinyTrainer(tinyConfig());
    const shaped = await tinyTrainer(tinyConfig({ algorithm: { overlong: { enabled: true, buffer: 6, factor: 1 } } }));
    const a = (await plain.trainStep()).metrics;
    const b = (await shaped.trainStep()).metrics;
    // Same seed → same samples; the logged penalty is −mean(length)/6.
    expect(b['rewards/overlong_penalty/mean']).toBeCloseTo(-a['completions/mean_length']! / 6, 5);
    plain.dispose();
    shaped.dispose();
  });

  it('masking truncated completions leaves them out of the loss', async () => {
    const completion = (n: number, finishReason: 'eos' | 'length') => ({
      tokenIds: Array<number>(n).fill(5),
      text: 'x'.repeat(n),
      logprobs: Array<number>(n).fill(-1),
      finishReason,
    });
    const group: ScoredGroup = {
      row: { prompt: 'p' },
      prompt: 'p',
      promptIds: [1],
      completions: [completion(2, 'eos'), completion(3, 'length')],
      rewards: [1, 0],
      rewardsByFunction: {},
      unscored: [false, false],
    };
    const shaped = maskTruncated.shape([group], { maxNewTokens: 3 });
    expect(shaped.groups[0]!.masked).toEqual([false, true]);
    expect(group.masked).toBeUndefined(); // a new record, the input unchanged
    // End to end: a 1-token limit truncates nearly everything; the run still trains and logs it.
    const trainer = await tinyTrainer(tinyConfig({ generation: { maxNewTokens: 1 }, algorithm: { maskTruncated: true, kl: { beta: 0 } } }));
    const { metrics } = await trainer.trainStep();
    expect(metrics['completions/clipped_ratio']).toBeGreaterThan(0.5);
    trainer.dispose();
  });
});

describe('DirectoryCheckpointer', () => {
  it('never exposes a half-written checkpoint as the latest', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'grpo-ckpt-'));
    const checkpointer = new DirectoryCheckpointer(dir);
    const trainer = await tinyTrainer(tinyConfig());
    await trainer.trainStep();
    const first = await checkpointer.save(trainer);
    await trainer.trainStep();
    // A crash while the reference is being written (after the policy went to disk).
    const reference = trainer.reference!;
    const save = reference.save.bind(reference);
    reference.save = async () => {
      throw new Error('disk full');
    };
    await expect(checkpointer.save(trainer)).rejects.toThrow('disk full');
    reference.save = save;
    expect(await checkpointer.latest()).toBe(first);
    // The intact checkpoint restores.
    const fresh = await tinyTrainer(tinyConfig());
    expect((await checkpointer.restore(first, fresh)).step).toBe(1);
    trainer.dispose();
    fresh.dispose();
  });

  it('rejects a corrupt trainer.json with a message naming the file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'grpo-ckpt-'));
    const checkpointer = new DirectoryCheckpointer(dir);
    const trainer = await tinyTrainer(tinyConfig());
    const saved = await checkpointer.save(trainer);
    await writeFile(path.join(saved, 'trainer.json'), '{"format": "something-else"}');
    await expect(checkpointer.restore(saved, trainer)).rejects.toThrow(/trainer\.json: not a GRPO\.ts trainer checkpoint/);
    await writeFile(path.join(saved, 'trainer.json'), '{"format": ');
    await expect(checkpointer.restore(saved, trainer)).rejects.toThrow(/trainer\.json/);
    const noRef = await tinyTrainer(tinyConfig({ algorithm: { kl: { beta: 0 } } }));
    const saved2 = await new DirectoryCheckpointer(path.join(dir, 'b')).save(noRef);
    await expect(new DirectoryCheckpointer(path.join(dir, 'b')).restore(saved2, trainer)).rejects.toThrow(/holds no reference policy, but this run needs one/);
    trainer.dispose();
    noRef.dispose();
  });
});
