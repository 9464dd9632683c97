/**
 * @grpo/plugin-reward-model: learned reward models (outcome, process, preference) on the
 * transformer backbone, served as a `RewardFunction`, with iterative RL (DeepSeekMath §4.2).
 *
 * ```ts
 * import mathTask from '@grpo/plugin-math-task';
 * import rewardModel from '@grpo/plugin-reward-model';
 * // The labeller: a reward another plugin binds (here the math task's `task_accuracy`), or a RewardFunction.
 * plugins: [mathTask(), rewardModel({ checkpoint: 'runs/rm', name: 'rm', iterative: { everySteps: 50, labeller: 'task_accuracy' } })]
 * ```
 */
import { ConfigError, RewardFunction, TrainerHook, type ConfigIssue, type GrpoPlugin } from '@grpo/core';
import { IterativeRewardModel, iterativeOptionIssues, type IterativeOptions } from './iterative.js';
import type { ScoringOptions } from './readout.js';
import { TransformerRewardModel } from './scoring.js';

export * from './metrics.js';
export * from './steps.js';
export * from './data.js';
export { TransformerRewardModel, type CreateRewardModelOptions } from './scoring.js';
export { noisyAndLogit, type RewardModelMode, type ScoringOptions } from './readout.js';
export type { TrainOptions } from './training.js';
export type { TokenScores } from './encoding.js';
export { RM_FILE, RM_FORMAT } from './checkpoint.js';
export * from './iterative.js';
export * from './samples.js';
export * from './cli.js';

export const meta = { name: '@grpo/plugin-reward-model', version: '0.1.0', core: '^0.1.0' } as const;

export interface RewardModelPluginOptions extends ScoringOptions {
  /** A reward-model checkpoint directory (written by `save` / `grpo rm train`). */
  checkpoint?: string;
  /** Or a model built in code (a TypeScript config). */
  model?: TransformerRewardModel;
  /**
   * Iterative RL: retrain the reward model after every `everySteps` steps on the policy's new
   * samples. `labeller` is a `RewardFunction`, or the name of a reward that another plugin binds,
   * e.g. the math task's `task_accuracy` (or `step_correctness` with `processRewards`); give it
   * weight 0 in `rewards.weights` to log it without training on it.
   */
  iterative?: Omit<IterativeOptions, 'labeller'> & { labeller: RewardFunction | string };
}

/**
 * Binds the reward model as a `RewardFunction` (named `name`, default `rm`) and, with
 * `iterative`, a `TrainerHook` that keeps training it. π_ref is reset after each iteration by the
 * trainer itself: with a KL term, set `algorithm.kl.refResetEvery` to `iterative.everySteps`
 * (checked here), or call `hook.attach(trainer)` in code.
 */
export default function rewardModel(options: RewardModelPluginOptions): GrpoPlugin {
  const { checkpoint, model: given, iterative, ...scoring } = options;
  const issues: ConfigIssue[] = [];
  if (!checkpoint && !given) issues.push({ path: 'checkpoint', message: 'give a reward-model checkpoint directory (or a model)' });
  if (iterative) issues.push(...iterativeOptionIssues(iterative));
  if (issues.length) throw new ConfigError('@grpo/plugin-reward-model options', issues);
  return {
    meta,
    async register({ bind, config }) {
      const rm = given ?? (await TransformerRewardModel.load(checkpoint!, scoring));
      bind<RewardFunction>(RewardFunction).toConstantValue(rm);
      if (!iterative) return;
      const kl = config.algorithm.kl;
      if (kl.beta > 0 && kl.refResetEvery !== iterative.everySteps && (iterative.resetReference ?? true))
        throw new ConfigError(config.source, [
          { path: 'algorithm.kl.refResetEvery', message: `iterative RL resets π_ref after every iteration: set it to ${iterative.everySteps} (reward-model iterative.everySteps), got ${kl.refResetEvery}` },
        ]);
      bind<TrainerHook>(TrainerHook).toDynamicValue((ctx) => {
        const { labeller } = iterative;
        if (typeof labeller !== 'string') return new IterativeRewardModel(rm, { ...iterative, labeller });
        const others = ctx.getAll<RewardFunction>(RewardFunction).filter((r) => r !== rm);
        const fn = others.find((r) => r.name === labeller);
        if (!fn) {
          const bound = others.length ? `the rewards bound besides this reward model are ${others.map((r) => `'${r.name}'`).join(', ')}` : `no reward is bound besides this reward model ('${rm.name}')`;
          const message = `no reward function named '${labeller}' is bound (${bound}); the labeller must be a reward that another plugin binds (e.g. the math task's 'task_accuracy': add mathTask() to plugins) or a RewardFunction passed in`;
          throw new ConfigError(config.source, [{ path: 'plugins.reward-model.iterative.labeller', message }]);
        }
        return new IterativeRewardModel(rm, { ...iterative, labeller: fn });
      }).inSingletonScope();
    },
  };
}
