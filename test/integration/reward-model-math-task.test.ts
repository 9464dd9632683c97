/**
 * The reward-model plugin with the math task's rule-based verifiers as labellers. The plugin does
 * not depend on the math task: a labeller is a RewardFunction passed in, or the name of a reward
 * that another plugin binds, here `mathTask()`'s `task_accuracy` and `step_correctness`.
 */
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import { assembleContainer, resolveConfig, RewardFunction, TrainerHook, type RewardInput } from '@grpo/core';
import mathTask, { judgeSteps, stepCorrectness, taskAccuracy } from '@grpo/plugin-math-task';
import rewardModel, { labelSamples, splitSteps, TransformerRewardModel, type IterativeRewardModel } from '@grpo/plugin-reward-model';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { beforeAll, describe, expect, it } from 'vitest';

beforeAll(async () => {
  if (tf.getBackend() !== 'wasm') await setupBackend('wasm');
});

const input: RewardInput = {
  prompts: ['q\n', 'q\n', 'q\n'],
  completions: ['1+2=3\n#### 3', '1+2=4\n#### 4', ''],
  completionIds: [[], [], []],
  finishReasons: ['eos', 'eos', 'length'],
  rows: [
    { prompt: 'q\n', answer: '3', numbers: [1, 2] },
    { prompt: 'q\n', answer: '3', numbers: [1, 2] },
    { prompt: 'q\n', answer: '3', numbers: [1, 2] },
  ],
};

describe('reward model × math task', () => {
  it('labels samples with the math task’s verifiers (outcome and process)', async () => {
    const outcome = labelSamples(input, await taskAccuracy().score(input), 'outcome');
    expect(outcome).toEqual([
      { kind: 'outcome', prompt: 'q\n', completion: '1+2=3\n#### 3', label: 1 },
      { kind: 'outcome', prompt: 'q\n', completion: '1+2=4\n#### 4', label: 0 },
    ]);
    const process = labelSamples(input, await stepCorrectness().score(input), 'process');
    expect(process.map((e) => e.kind === 'process' && e.steps)).toEqual([[{ endChar: 5, reward: 1 }], [{ endChar: 5, reward: 0 }]]);
  });

  it('the step splitter ends steps where the math task judges them (with stopAt: ####)', () => {
    const solution = '3+4=7\n\n7-2=5\n#### 5';
    expect(splitSteps(solution, { stopAt: '####' })).toEqual(judgeSteps(solution, [3, 4, 2]).map((v) => v.endChar));
  });

  it('iterative RL finds the math task’s rewards by name when mathTask() is among the plugins', async () => {
    const tokenizer = CharTokenizer.fromChars('0123456789+-=# \n');
    const rm = TransformerRewardModel.create({ tokenizer, model: { dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: 32 }, seed: 1 });
    const task = mathTask({ trainSize: 10, testSize: 0, processRewards: true });
    for (const [labeller, labels, expected] of [
      ['task_accuracy', 'outcome', [1, 0]],
      ['step_correctness', 'process', [[1], [0]]],
    ] as const) {
      const container = await assembleContainer(
        await resolveConfig({ plugins: [task, rewardModel({ model: rm, iterative: { everySteps: 2, labeller, labels } })] }, { source: 'test' }),
      );
      const hook = (await container.getAllAsync<TrainerHook>(TrainerHook))[0] as IterativeRewardModel;
      expect(hook.options.labeller).toBe((await container.getAllAsync<RewardFunction>(RewardFunction)).find((r) => r.name === labeller));
      expect(await hook.add(input)).toBe(2);
      expect(hook.pending.map((e) => (e.kind === 'outcome' ? e.label : e.kind === 'process' ? e.steps.map((s) => s.reward) : null))).toEqual(expected);
    }
    rm.dispose();
  });
});
