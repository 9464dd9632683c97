import { assembleContainer, ConfigError, resolveConfig, RewardError, RewardFunction, type RewardInput } from '@grpo/core';
import { describe, expect, it } from 'vitest';
import mathReward, { accuracyReward, cosineLengthReward, kimiLengthReward, mathRewards, overlongPenalty, repetitionPenalty } from '../src/index.js';

function input(completions: string[], rows: Record<string, unknown>[], opts: { prompts?: string[]; lengths?: number[] } = {}): RewardInput {
  return {
    prompts: opts.prompts ?? completions.map(() => 'q'),
    completions,
    completionIds: (opts.lengths ?? completions.map((c) => c.length)).map((n) => Array.from({ length: n }, () => 0)),
    finishReasons: completions.map(() => 'eos' as const),
    rows: rows.map((r) => ({ prompt: 'q', ...r })),
  };
}

describe('accuracyReward', () => {
  it('scores correct, wrong and unanswerable completions with custom values', async () => {
    const r = accuracyReward({ correct: 2, incorrect: -1, noAnswer: -3 });
    expect(r.name).toBe('accuracy');
    const scores = await r.score(input(['\\boxed{42}', '\\boxed{41}', 'I do not know'], [{ answer: '42' }, { answer: '42' }, { answer: '42' }]));
    expect(scores).toEqual([2, -1, -3]);
  });
  it('reads the reference from a configurable field, numbers included', async () => {
    const r = accuracyReward({ referenceField: 'target' });
    expect(await r.score(input(['#### 7'], [{ target: 7 }]))).toEqual([1]);
  });
  it('names the missing field', async () => {
    const r = accuracyReward();
    await expect(async () => r.score(input(['1'], [{}]))).rejects.toThrow(RewardError);
    await expect(async () => r.score(input(['1'], [{}]))).rejects.toThrow(/no 'answer' field/);
  });
});

describe('length rewards', () => {
  it('cosine-scaled: worked values', async () => {
    const r = cosineLengthReward({ maxLength: 1000 });
    const rows = [{ answer: '1' }, { answer: '1' }, { answer: '1' }, { answer: '1' }];
    const s = await r.score(input(['\\boxed{1}', '\\boxed{1}', '\\boxed{2}', '\\boxed{2}'], rows, { lengths: [0, 500, 0, 1000] }));
    // correct: 0.5 + 0.25·(1 + cos θ); wrong: −0.5 − 0.25·(1 + cos θ)
    expect(s[0]).toBeCloseTo(1, 12);
    expect(s[1]).toBeCloseTo(0.75, 12);
    expect(s[2]).toBeCloseTo(-1, 12);
    expect(s[3]).toBeCloseTo(-0.5, 12);
  });
  it('Kimi 1.5: λ = 0.5 − (len − min)/(max − min) per prompt group', async () => {
    const r = kimiLengthReward();
    const rows = Array.from({ length: 5 }, () => ({ answer: '3' }));
    const s = await r.score(
      input(['\\boxed{3}', '\\boxed{3}', '\\boxed{4}', '\\boxed{4}', '\\boxed{3}'], rows, {
        prompts: ['a', 'a', 'a', 'a', 'b'],
        lengths: [10, 30, 10, 20, 99],
      }),
    );
    expect(s).toEqual([0.5, -0.5, 0, 0, 0]);
  });
  it('DAPO overlong penalty: algorithms.md worked numbers', async () => {
    const r = overlongPenalty({ maxLength: 20480, bufferLength: 4096 });
    const s = await r.score(input(['a', 'b', 'c', 'd'], [{}, {}, {}, {}], { lengths: [16384, 18432, 20480, 1000] }));
    expect(s).toEqual([0, -0.5, -1, 0]);
    expect(() => overlongPenalty({ maxLength: 10, bufferLength: 20 })).toThrow(/bufferLength/);
  });
  it('repetition penalty: share of repeated n-grams times maxPenalty', async () => {
    const r = repetitionPenalty({ ngramSize: 3, maxPenalty: -1 });
    // "a b c a b c": 4 trigrams, 3 distinct → (1 − 3/4)·(−1)
    const s = await r.score(input(['a b c a b c', 'one two', 'x y z w'], [{}, {}, {}]));
    expect(s).toEqual([-0.25, 0, 0]);
    expect(() => repetitionPenalty({ maxPenalty: 1 })).toThrow(/maxPenalty/);
  });
});

describe('mathReward plugin', () => {
  it('binds each selected reward to the RewardFunction token', async () => {
    const plugin = mathReward({ tagCount: true, overlong: { maxLength: 100, bufferLength: 10 } });
    expect(plugin.meta).toEqual({ name: '@grpo/plugin-math-reward', version: '0.1.0', core: '^0.1.0' });
    const container = await assembleContainer(await resolveConfig({ plugins: [plugin] }, { source: 'test' }));
    const names = container.getAll<RewardFunction>(RewardFunction).map((r) => r.name);
    expect(names).toEqual(['accuracy', 'format', 'tag_count', 'overlong']);
  });
  it('reports bad reward options with the config problems', async () => {
    const bad = resolveConfig({ plugins: [mathReward({ overlong: { maxLength: 10, bufferLength: 20 }, colour: true } as never)] }, { source: 'test' });
    await expect(bad).rejects.toThrow(ConfigError);
    await expect(bad).rejects.toThrow(/plugins\[@grpo\/plugin-math-reward\]: unknown key 'colour'/);
  });
  it('turns defaults off and passes options through', () => {
    expect(mathRewards({ accuracy: false, format: { style: 'think', name: 'think' } }).map((r) => r.name)).toEqual(['think']);
    // @ts-expect-error overlong needs maxLength and bufferLength: `true` is a compile error
    expect(() => mathRewards({ overlong: true })).toThrow();
  });
});
