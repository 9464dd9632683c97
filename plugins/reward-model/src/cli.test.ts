import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import { DataError } from '@grpo/core';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { createPolicy } from '@grpo/plugin-transformer';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateRewardModel, trainRewardModel } from './cli.js';
import { TransformerRewardModel } from './scoring.js';

beforeAll(async () => {
  if (tf.getBackend() !== 'wasm') await setupBackend('wasm');
});

describe('rm train / rm eval', () => {
  it('trains from JSONL (from a policy checkpoint), writes a checkpoint, and evaluates it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rm-cli-'));
    const tokenizer = CharTokenizer.fromChars('abcd');
    const policy = createPolicy({ model: { dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 16 }, tokenizer, seed: 1 });
    await policy.save(join(dir, 'policy'));
    policy.dispose();
    const words = ['ab', 'ba', 'bc', 'cb', 'ad', 'da', 'cd', 'dc', 'bb', 'cc', 'aa', 'dd', 'ca', 'ac', 'bd', 'db'];
    const lines = words.flatMap((w) => ['a', 'b'].map((prompt) => JSON.stringify({ prompt, completion: w, label: w.includes('d') ? 0 : 1 })));
    await writeFile(join(dir, 'train.jsonl'), `${lines.join('\n')}\n`);
    const log: string[] = [];
    const { metrics } = await trainRewardModel({
      data: join(dir, 'train.jsonl'),
      evalData: join(dir, 'train.jsonl'),
      out: join(dir, 'rm'),
      initPolicy: join(dir, 'policy'),
      epochs: 15,
      batchSize: 8,
      learningRate: 5e-3,
      log: (l) => log.push(l),
    });
    expect(log).toHaveLength(15);
    expect(log[0]).toMatch(/^epoch 1\/15 loss=/);
    expect(metrics['eval/outcome/accuracy']).toBeGreaterThanOrEqual(0.9);
    const evaluated = await evaluateRewardModel({ checkpoint: join(dir, 'rm'), data: join(dir, 'train.jsonl') });
    expect(evaluated['outcome/accuracy']).toBeCloseTo(metrics['eval/outcome/accuracy']!, 9);
    const rm = await TransformerRewardModel.load(join(dir, 'rm'));
    expect(rm.scoring.mode).toBe('outcome');
    expect(rm.scoring.pooling).toBe('last');
    expect(rm.head.likelihood).toBe(false);
    rm.dispose();

    // The likelihood-reading, noisy-and variant: both are saved with the checkpoint and used when it is served.
    await trainRewardModel({
      data: join(dir, 'train.jsonl'),
      evalFraction: 0,
      out: join(dir, 'rm-lik'),
      initPolicy: join(dir, 'policy'),
      likelihood: true,
      pooling: 'noisy-and',
      backboneLrScale: 0.01,
      epochs: 1,
    });
    const lik = await TransformerRewardModel.load(join(dir, 'rm-lik'));
    expect(lik.scoring.pooling).toBe('noisy-and');
    expect(lik.head.likelihood).toBe(true);
    const [raw] = await lik.tokenScores([{ prompt: 'a', completion: 'ab' }]);
    const [served] = await lik.outcomeScores([{ prompt: 'a', completion: 'ab' }]);
    expect(served).toBeCloseTo(
      raw!.logits.reduce((p, z) => p / (1 + Math.exp(-z)), 1),
      6,
    );
    lik.dispose();

    await writeFile(join(dir, 'bad.jsonl'), `${lines[0]}\n{"prompt":"a","completion":"ab","label":"yes"}\n`);
    await expect(trainRewardModel({ data: join(dir, 'bad.jsonl'), out: join(dir, 'rm2'), initPolicy: join(dir, 'policy') })).rejects.toThrow(
      new DataError(`${join(dir, 'bad.jsonl')}:2: label must be 0, 1, true or false, got "yes"`),
    );
  });
});
