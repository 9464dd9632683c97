import { ConfigError, EvalDataset, PromptDataset, RewardFunction, assembleContainer, resolveConfig, type GrpoPlugin } from '@grpo/core';
import { describe, expect, it } from 'vitest';
import mathTask, { MathTaskDataset, makeSplit, sftExamples, type MathRow } from '../src/index.js';

const containerWith = async (plugin: GrpoPlugin) => assembleContainer(await resolveConfig({ plugins: [plugin] }, { source: 'test' }));

describe('mathTask() plugin', () => {
  it('carries its metadata', () => {
    const plugin = mathTask({ trainSize: 10, testSize: 10 });
    expect(plugin.meta).toEqual({ name: '@grpo/plugin-math-task', version: '0.1.0', core: '^0.1.0' });
  });

  it('reports bad options with the config problems', async () => {
    const bad = resolveConfig({ plugins: [mathTask({ trainSize: 0, difficulty: 'impossible' as never })] }, { source: 'test' });
    await expect(bad).rejects.toThrow(ConfigError);
    await expect(bad).rejects.toThrow(/plugins\[@grpo\/plugin-math-task\]\.trainSize: expected an integer ≥ 1, got 0/);
  });

  it('binds the train split, the test split and the accuracy reward by default', async () => {
    const container = await containerWith(mathTask());
    const train = container.get<PromptDataset<MathRow>>(PromptDataset);
    const test = container.get<PromptDataset<MathRow>>(EvalDataset);
    expect(train.size).toBe(20000);
    expect(test.size).toBe(500);
    expect(container.getAll<RewardFunction>(RewardFunction).map((r) => r.name)).toEqual(['task_accuracy']);
    // The bound splits are the seed-0 splits.
    expect(test.get(499)).toEqual(makeSplit({ seed: 0, split: 'test', size: 500 })[499]);
    expect(train.get(19999)).toEqual(makeSplit({ seed: 0, split: 'train', size: 20000 })[19999]);
    expect(() => train.get(20000)).toThrow(RangeError);
  });

  it('honours seed, sizes, difficulty and processRewards; testSize 0 binds no EvalDataset', async () => {
    const container = await containerWith(mathTask({ seed: 3, difficulty: 'hard', trainSize: 50, testSize: 0, processRewards: { wrongReward: -0.5 } }));
    const train = container.get<PromptDataset<MathRow>>(PromptDataset);
    expect(train.size).toBe(50);
    expect(train.get(7)).toEqual(makeSplit({ seed: 3, difficulty: 'hard', split: 'train', size: 8 })[7]);
    expect(container.isBound(EvalDataset)).toBe(false);
    const rewards = container.getAll<RewardFunction>(RewardFunction);
    expect(rewards.map((r) => r.name)).toEqual(['task_accuracy', 'step_correctness']);
    const row = train.get(0);
    const scores = await rewards[1]!.score({ prompts: [row.prompt], completions: ['0+0=1'], completionIds: [[]], finishReasons: ['eos'], rows: [row] });
    expect(scores).toEqual([{ score: null, steps: [{ endChar: 5, reward: -0.5 }], info: { step_count: 1, step_correct_frac: 0 } }]);
  });

  it('reports every bad option while the config resolves, before any data is made', async () => {
    const problems = async (options: Parameters<typeof mathTask>[0]) =>
      resolveConfig({ plugins: [mathTask(options)] }, { source: 'test' }).then(
        () => '',
        (e: unknown) => (e as ConfigError).message,
      );
    expect(await problems({ trainSize: 0 })).toMatch(/plugins\[@grpo\/plugin-math-task\]\.trainSize: expected an integer ≥ 1, got 0/);
    expect(await problems({ difficulty: { maxSteps: 0 } })).toMatch(
      /plugins\[@grpo\/plugin-math-task\]\.difficulty\.maxSteps: expected an integer ≥ minSteps \(2\), got 0/,
    );
    expect(await problems({ testFraction: 1.5 })).toMatch(/testFraction: expected a number in \[0, 1\], got 1\.5/);
  });

  it('its lazy dataset gives the same rows in any access order', () => {
    const a = new MathTaskDataset({ split: 'train', size: 100, seed: 9 });
    const b = new MathTaskDataset({ split: 'train', size: 100, seed: 9 });
    const forward = Array.from({ length: 100 }, (_, i) => a.get(i));
    const backward = Array.from({ length: 100 }, (_, i) => b.get(99 - i)).reverse();
    expect(backward).toEqual(forward);
  });
});

describe('sftExamples', () => {
  it('pairs each prompt with its full solution, without EOS', () => {
    const rows = makeSplit({ seed: 0, split: 'train', size: 3 });
    const examples = sftExamples(rows);
    expect(examples).toHaveLength(3);
    expect(examples[0]).toEqual({ prompt: rows[0]!.prompt, completion: rows[0]!.solution });
    expect(sftExamples([{ prompt: 'q\n', solution: '1+1=2\n#### 2' }])).toEqual([{ prompt: 'q\n', completion: '1+1=2\n#### 2' }]);
  });
});
