/**
 * @grpo/plugin-reward-model: learned reward models (outcome, process, preference) on the
 * transformer backbone, served as a `RewardFunction`, with iterative RL (DeepSeekMath §4.2) and
 * the `grpo rm` command.
 *
 * ```ts
 * import rewardModel from '@grpo/plugin-reward-model';
 * import mathTask from '@grpo/plugin-math-task';
 * // The labeller is a reward another plugin binds (here the math task's task_accuracy), or a RewardFunction.
 * plugins: [mathTask(), rewardModel({ checkpoint: 'runs/rm', name: 'rm', iterative: { everySteps: 50, labeller: 'task_accuracy' } })]
 * ```
 */
import { rewardModel } from './plugin.js';

export { rewardModel, rewardModelOptionsSchema, meta, type RewardModelPluginOptions } from './plugin.js';
export { rmCommand } from './command.js';
export * from './metrics.js';
export * from './steps.js';
export * from './data.js';
export * from './model.js';
export * from './iterative.js';
export * from './samples.js';
export * from './cli.js';

export default rewardModel;
