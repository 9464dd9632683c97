import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import { CheckpointError, DataError, Rng, type RewardExample, type RewardInput } from '@grpo/core';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { beforeAll, describe, expect, it } from 'vitest';
import { sigmoid } from './metrics.js';
import { noisyAndLogit } from './readout.js';
import { TransformerRewardModel, type CreateRewardModelOptions } from './scoring.js';

beforeAll(async () => {
  if (tf.getBackend() !== 'wasm') await setupBackend('wasm');
});

const tokenizer = CharTokenizer.fromChars('abcd\n');
const tiny = (o: Partial<CreateRewardModelOptions> = {}) =>
  TransformerRewardModel.create({ tokenizer, model: { dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 24 }, seed: 3, ...o });

const input = (prompts: string[], completions: string[]): RewardInput => ({
  prompts,
  completions,
  completionIds: completions.map((c) => tokenizer.encode(c)),
  finishReasons: completions.map(() => 'eos' as const),
  rows: prompts.map((prompt) => ({ prompt })),
});

const softplus = (z: number) => Math.log1p(Math.exp(z));

describe('TransformerRewardModel', () => {
  it('scores in batches (any batch size gives the same scores) and leaks no tensors', async () => {
    const rm = tiny({ batchSize: 2 });
    const whole = tiny({ batchSize: 64 });
    const batch = input(['a', 'b', 'c', 'dd', 'a'], ['ab', 'c', 'dddd', 'a\nb', 'b']);
    await rm.score(batch); // warm up kernels
    const before = tf.memory().numTensors;
    const scores = (await rm.score(batch)) as number[];
    expect(tf.memory().numTensors).toBe(before);
    expect(scores).toHaveLength(5);
    for (const s of scores) expect(s > 0 && s < 1).toBe(true);
    const again = (await whole.score(batch)) as number[];
    scores.forEach((s, i) => expect(again[i]).toBeCloseTo(s, 5));
    // The outcome score is σ(logit at the EOS token that follows the completion).
    const [raw] = await rm.tokenScores([{ prompt: 'a', completion: 'ab' }]);
    expect(raw!.logits).toHaveLength(3);
    expect(raw!.ends).toEqual([1, 2, 2]);
    expect(scores[0]).toBeCloseTo(sigmoid(raw!.logits[2]!), 6);
    rm.dispose();
    whole.dispose();
  });

  it('serves per-step rewards at the token of each step end (min or last as the score)', async () => {
    const rm = tiny({ mode: 'process' });
    const [s] = (await rm.score(input(['a'], ['ab\ncd\n\nd']))) as { score: number; steps: { endChar: number; reward: number }[] }[];
    expect(s!.steps.map((x) => x.endChar)).toEqual([2, 5, 8]);
    const [raw] = await rm.tokenScores([{ prompt: 'a', completion: 'ab\ncd\n\nd' }]);
    // Step ending at char 2 is read at token 1 ('b'), at 5 → token 4 ('d'), at 8 → token 7 ('d').
    expect(s!.steps.map((x) => x.reward)).toEqual([1, 4, 7].map((t) => expect.closeTo(sigmoid(raw!.logits[t]!), 6)));
    expect(s!.score).toBeCloseTo(Math.min(...s!.steps.map((x) => x.reward)), 9);
    const last = tiny({ mode: 'process', processScore: 'last' });
    const [l] = (await last.score(input(['a'], ['ab\ncd\n\nd']))) as { score: number; steps: readonly { reward: number }[] }[];
    expect(l!.score).toBeCloseTo(l!.steps[2]!.reward, 9);
    rm.dispose();
    last.dispose();
  });

  it('computes the ORM, PRM and Bradley–Terry losses as written', async () => {
    const rm = tiny();
    const batch: RewardExample[] = [
      { kind: 'outcome', prompt: 'a', completion: 'bc', label: 1 },
      { kind: 'outcome', prompt: 'b', completion: 'dd', label: 0 },
      {
        kind: 'process',
        prompt: 'c',
        completion: 'ab\nc',
        steps: [
          { endChar: 2, reward: 1 },
          { endChar: 4, reward: 0 },
        ],
      },
      { kind: 'preference', prompt: 'd', chosen: 'aa', rejected: 'b' },
    ];
    const raw = await rm.tokenScores([
      { prompt: 'a', completion: 'bc' },
      { prompt: 'b', completion: 'dd' },
      { prompt: 'c', completion: 'ab\nc' },
      { prompt: 'd', completion: 'aa' },
      { prompt: 'd', completion: 'b' },
    ]);
    const z = raw.map((r) => r.logits);
    const expected = (softplus(-z[0]![2]!) + softplus(z[1]![2]!) + (softplus(-z[2]![1]!) + softplus(z[2]![3]!)) / 2 + softplus(-(z[3]![2]! - z[4]![1]!))) / 4;
    const loss = rm.loss(batch);
    expect(loss.dataSync()[0]).toBeCloseTo(expected, 5);
    loss.dispose();
    rm.dispose();
  });

  it('noisy-and pooling: P(correct) = Π σ(z_t), scored and trained as written', async () => {
    // Worked values: logit(σ(0)²) = ln(0.25 / 0.75); one token keeps its logit; logit(σ(−1)·σ(3)).
    expect(noisyAndLogit([0, 0])).toBeCloseTo(-1.0986122887, 9);
    expect(noisyAndLogit([2])).toBeCloseTo(2, 9);
    expect(noisyAndLogit([-1, 3])).toBeCloseTo(-1.0658839038, 9);
    expect(noisyAndLogit([5, 5, 5, 5])).toBeCloseTo(3.6036044314, 9);
    expect(Number.isFinite(noisyAndLogit([60, 60]))).toBe(true);
    const rm = tiny({ pooling: 'noisy-and' });
    const raw = await rm.tokenScores([
      { prompt: 'a', completion: 'bc' },
      { prompt: 'b', completion: 'dda' },
    ]);
    const logP = raw.map((r) => -r.logits.reduce((a, z) => a + softplus(-z), 0));
    const [score] = (await rm.score(input(['a'], ['bc']))) as number[];
    expect(score).toBeCloseTo(Math.exp(logP[0]!), 6);
    const loss = rm.loss([
      { kind: 'outcome', prompt: 'a', completion: 'bc', label: 1 },
      { kind: 'outcome', prompt: 'b', completion: 'dda', label: 0 },
    ]);
    expect(loss.dataSync()[0]).toBeCloseTo((-logP[0]! - Math.log(1 - Math.exp(logP[1]!))) / 2, 5);
    loss.dispose();
    expect(() => tiny({ pooling: 'max' as never })).toThrow("pooling must be 'last' or 'noisy-and'");
    rm.dispose();
  });

  it('noisy-and for steps: step k is right when every token up to its end is, scored and trained as written', async () => {
    const rm = tiny({ mode: 'process', pooling: 'noisy-and' });
    const completion = 'ab\ncd';
    const [raw] = await rm.tokenScores([{ prompt: 'c', completion }]);
    const logSig = raw!.logits.map((z) => -softplus(-z));
    const upTo = (t: number) => logSig.slice(0, t + 1).reduce((a, b) => a + b, 0);
    // Steps end at chars 2 ('b', token 1) and 5 ('d', token 4).
    const [p1, p2] = [Math.exp(upTo(1)), Math.exp(upTo(4))];
    const [scored] = (await rm.score(input(['c'], [completion]))) as { score: number; steps: { endChar: number; reward: number }[] }[];
    expect(scored!.steps.map((x) => x.reward)).toEqual([expect.closeTo(p1, 6), expect.closeTo(p2, 6)]);
    expect(scored!.score).toBeCloseTo(Math.min(p1, p2), 6);
    const loss = rm.loss([
      {
        kind: 'process',
        prompt: 'c',
        completion,
        steps: [
          { endChar: 2, reward: 1 },
          { endChar: 5, reward: 0 },
        ],
      },
    ]);
    expect(loss.dataSync()[0]).toBeCloseTo((-Math.log(p1) - Math.log(1 - p2)) / 2, 5);
    loss.dispose();
    rm.dispose();
  });

  it('noisy-and learns from outcome labels alone where the error is, wherever it sits', async () => {
    // A completion is wrong when it contains a 'd' (at any position); only the outcome is labelled.
    const rng = new Rng('noisy-and');
    const letters = 'abc';
    const examples: RewardExample[] = Array.from({ length: 160 }, () => {
      const chars = Array.from({ length: 6 }, () => letters[rng.int(3)]!);
      const wrong = rng.next() < 0.5;
      if (wrong) chars[rng.int(6)] = 'd';
      return { kind: 'outcome' as const, prompt: 'a', completion: chars.join(''), label: wrong ? 0 : 1 };
    });
    const rm = tiny({ pooling: 'noisy-and' });
    const metrics = await rm.train(examples.slice(0, 120), { epochs: 10, batchSize: 16, learningRate: 3e-3, eval: examples.slice(120) });
    expect(metrics['eval/outcome/accuracy']).toBeGreaterThanOrEqual(0.95);
    // The least likely token of a held-out wrong completion is its 'd'.
    const wrong = examples.slice(120).filter((e) => e.kind === 'outcome' && e.label === 0) as { completion: string; prompt: string }[];
    const scores = await rm.tokenScores(wrong);
    const located = scores.filter((s, i) => wrong[i]!.completion[s.logits.indexOf(Math.min(...s.logits))] === 'd').length;
    expect(located / wrong.length).toBeGreaterThanOrEqual(0.9);
    rm.dispose();
  });

  it('learns outcome, process and preference labels of a simple rule; training leaks no tensors', async () => {
    // Rule: a line is right when it has no 'd'; a completion is right when all its lines are.
    const lines = ['ab', 'ba', 'ca', 'ad', 'dc', 'db', 'bb', 'cd'];
    const ok = (l: string) => !l.includes('d');
    const examples: RewardExample[] = [];
    for (const x of lines)
      for (const y of lines) {
        const completion = `${x}\n${y}`;
        examples.push({ kind: 'outcome', prompt: 'a', completion, label: ok(x) && ok(y) ? 1 : 0 });
        examples.push({
          kind: 'process',
          prompt: 'b',
          completion,
          steps: [
            { endChar: 2, reward: ok(x) ? 1 : 0 },
            { endChar: 5, reward: ok(x) && ok(y) ? 1 : 0 },
          ],
        });
        if (ok(x) !== ok(y)) examples.push({ kind: 'preference', prompt: 'c', chosen: ok(x) ? x : y, rejected: ok(x) ? y : x });
      }
    const rm = tiny();
    await rm.train(examples.slice(0, 8), { batchSize: 8 }); // optimizer moments exist from here on
    const before = tf.memory().numTensors;
    const metrics = await rm.train(examples, { epochs: 12, batchSize: 16, learningRate: 3e-3, eval: examples });
    expect(tf.memory().numTensors).toBe(before);
    expect(metrics['eval/outcome/accuracy']).toBeGreaterThanOrEqual(0.95);
    expect(metrics['eval/outcome/auc']).toBeGreaterThanOrEqual(0.98);
    expect(metrics['eval/process/step_accuracy']).toBeGreaterThanOrEqual(0.95);
    expect(metrics['eval/process/first_error_accuracy']).toBeGreaterThanOrEqual(0.9);
    expect(metrics['eval/preference/accuracy']).toBeGreaterThanOrEqual(0.95);
    expect(metrics.steps).toBe(12 * Math.ceil(examples.length / 16));
    rm.dispose();
  });

  it('backboneLrScale: 0 trains the score head alone, the backbone stays as it was', async () => {
    const rm = tiny({ likelihood: true, pooling: 'noisy-and' });
    const head = new Set(rm.head.headVariables());
    expect(head.size).toBe(3);
    const snapshot = () => rm.head.trainableVariables().map((v) => Array.from(v.dataSync()));
    const before = snapshot();
    await rm.train(
      [
        { kind: 'outcome', prompt: 'a', completion: 'bc', label: 0 },
        { kind: 'outcome', prompt: 'b', completion: 'ab', label: 1 },
      ],
      { learningRate: 1e-2, backboneLrScale: 0 },
    );
    const after = snapshot();
    rm.head.trainableVariables().forEach((v, i) => (head.has(v) ? expect(after[i]).not.toEqual(before[i]) : expect(after[i]).toEqual(before[i])));
    await expect(rm.train([{ kind: 'outcome', prompt: 'a', completion: 'bc', label: 0 }], { backboneLrScale: -1 })).rejects.toThrow(
      'backboneLrScale must be ≥ 0',
    );
    rm.dispose();
  });

  it('rejects bad training examples', async () => {
    const rm = tiny();
    await expect(rm.train([{ kind: 'outcome', prompt: 'a', completion: '', label: 1 }])).rejects.toThrow(DataError);
    await expect(rm.train([{ kind: 'outcome', prompt: 'a', completion: 'b', label: 2 }])).rejects.toThrow('example 0: label must be in [0, 1], got 2');
    await expect(rm.train([{ kind: 'process', prompt: 'a', completion: 'b', steps: [{ endChar: 5, reward: 1 }] }])).rejects.toThrow(
      'step end 5 is outside the completion',
    );
    await expect(rm.train([])).rejects.toThrow('no examples');
    rm.dispose();
  });

  it('saves and loads checkpoints (same scores, options kept) and validates them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rm-ckpt-'));
    const rm = tiny({ mode: 'process', name: 'prm', steps: { stopAt: '####' } });
    await rm.train([{ kind: 'outcome', prompt: 'a', completion: 'bc', label: 1 }], { learningRate: 1e-2 });
    await rm.save(join(dir, 'rm'));
    const loaded = await TransformerRewardModel.load(join(dir, 'rm'));
    expect(loaded.name).toBe('prm');
    expect(loaded.scoring.mode).toBe('process');
    expect(loaded.scoring.steps).toEqual({ stopAt: '####' });
    expect(loaded.steps).toBe(1);
    const batch = input(['a', 'b'], ['ab\ncd\n#### 3', 'c']);
    expect(await loaded.score(batch)).toEqual(await rm.score(batch));
    loaded.dispose();

    await writeFile(join(dir, 'rm', 'reward-model.json'), '{"format":"something-else"}');
    await expect(TransformerRewardModel.load(join(dir, 'rm'))).rejects.toThrow(CheckpointError);
    await rm.save(join(dir, 'rm'));
    await writeFile(join(dir, 'rm', 'model.safetensors'), 'truncated');
    await expect(TransformerRewardModel.load(join(dir, 'rm'))).rejects.toThrow(CheckpointError);
    await expect(TransformerRewardModel.load(join(dir, 'missing'))).rejects.toThrow(/reward-model\.json: file is missing/);
    rm.dispose();
  });
});
