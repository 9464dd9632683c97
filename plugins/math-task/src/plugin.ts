/**
 * @grpo/plugin-math-task without its files: the task, its rewards and the plugin factory; the
 * package's browser entry (`index.ts` adds `sftCheckpoint`, the path of the shipped SFT policy).
 */
import { AnswerExtractor, definePlugin, Environment, EvalDataset, field, PromptDataset, RewardFunction } from '@grpo/core';
import { z } from 'zod';
import { calculatorEnvironment } from './calculator.js';
import { MathTaskDataset } from './dataset.js';
import { resolveDifficulty, type DifficultyOption } from './difficulty.js';
import { DEFAULT_TEST_FRACTION } from './generate.js';
import { finalAnswerExtractor, stepCorrectness, taskAccuracy, type StepCorrectnessOptions, type TaskAccuracyOptions } from './rewards.js';

export const PLUGIN_NAME = '@grpo/plugin-math-task';
export const PLUGIN_VERSION = '0.1.0';

export interface MathTaskOptions {
  /** Seed of both splits; default 0. Same seed and difficulty → same problems. */
  readonly seed?: number;
  /** A preset (`easy`, `default`, `hard`) or knobs over one; default `default`. */
  readonly difficulty?: DifficultyOption;
  /** Rows of the training `PromptDataset` (generated lazily); default 20000. */
  readonly trainSize?: number;
  /** Rows of the `EvalDataset` (distinct questions, generated up front); default 500. `0` binds none. */
  readonly testSize?: number;
  /** Share of key buckets held out for the test split; default 0.1. */
  readonly testFraction?: number;
  /** Options of the `task_accuracy` reward, which is always bound. */
  readonly accuracy?: TaskAccuracyOptions;
  /** Also bind the `step_correctness` process reward (`true` or its options); default off. */
  readonly processRewards?: boolean | StepCorrectnessOptions;
  /**
   * Bind the calculator environment (`calculator`): rollouts become multi-turn, the policy's
   * `<<calc 23*7>>` is answered `=161`. Start from a policy that learnt the syntax
   * (`sftCheckpoint({ tool: true })`); default off.
   */
  readonly tool?: boolean;
}

export const DEFAULT_TRAIN_SIZE = 20_000;
export const DEFAULT_TEST_SIZE = 500;

/** The datasets and rewards `mathTask(options)` binds, built eagerly so bad options fail at once. */
export function mathTaskParts(options: MathTaskOptions = {}): {
  train: MathTaskDataset;
  test: MathTaskDataset | null;
  rewards: RewardFunction[];
} {
  const common = { seed: options.seed ?? 0, difficulty: options.difficulty ?? 'default', testFraction: options.testFraction ?? DEFAULT_TEST_FRACTION };
  const testSize = options.testSize ?? DEFAULT_TEST_SIZE;
  const rewards = [taskAccuracy(options.accuracy)];
  if (options.processRewards) rewards.push(stepCorrectness(options.processRewards === true ? {} : options.processRewards));
  return {
    train: new MathTaskDataset({ ...common, split: 'train', size: options.trainSize ?? DEFAULT_TRAIN_SIZE }),
    test: testSize === 0 ? null : new MathTaskDataset({ ...common, split: 'test', size: testSize }),
    rewards,
  };
}

const { int, fraction } = field;

/** `mathTask(options)`, checked by building the task's parts (a bad difficulty or size is reported with the config's problems). */
export const mathTaskOptionsSchema = field
  .checkedBy(
    z.strictObject({
      seed: int(0).optional(),
      difficulty: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
      trainSize: int(1).optional(),
      testSize: int(0).optional(),
      testFraction: fraction().optional(),
      accuracy: z.record(z.string(), z.unknown()).optional(),
      processRewards: z.union([z.boolean(), z.record(z.string(), z.unknown())]).optional(),
      tool: z.boolean().optional(),
    }),
    (options) => resolveDifficulty((options as MathTaskOptions).difficulty),
  )
  .prefault({});

/**
 * Plugin factory: binds the train split to `PromptDataset`, the test split to `EvalDataset`,
 * `task_accuracy` (always) and `step_correctness` (with `processRewards`) to `RewardFunction`, and
 * the calculator to `Environment` (with `tool`).
 */
const mathTask = definePlugin({
  meta: { name: PLUGIN_NAME, version: PLUGIN_VERSION, core: '^0.1.0' },
  options: mathTaskOptionsSchema,
  register({ bind, options }) {
    const { train, test, rewards } = mathTaskParts(options as MathTaskOptions);
    bind<PromptDataset>(PromptDataset).toConstantValue(train);
    if (test) bind<EvalDataset>(EvalDataset).toConstantValue(test);
    for (const reward of rewards) bind<RewardFunction>(RewardFunction).toConstantValue(reward);
    bind<AnswerExtractor>(AnswerExtractor).toConstantValue(finalAnswerExtractor);
    if ((options as MathTaskOptions).tool) bind<Environment>(Environment).toConstantValue(calculatorEnvironment());
  },
});
export default mathTask;
