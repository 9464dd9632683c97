/**
 * @grpo/plugin-reward-model: learned reward models (outcome, process, preference) on the
 * transformer backbone, served as a `RewardFunction`, with iterative RL (DeepSeekMath §4.2) and
 * the `grpo rm` command.
 *
 * ```ts
 * import mathTask from '@grpo/plugin-math-task';
 * import rewardModel from '@grpo/plugin-reward-model';
 * // The labeller: a reward another plugin binds (here the math task's `task_accuracy`), or a RewardFunction.
 * plugins: [mathTask(), rewardModel({ checkpoint: 'runs/rm', name: 'rm', iterative: { everySteps: 50, labeller: 'task_accuracy' } })]
 * ```
 */
import { rewardModel } from './plugin.js';

export { rewardModel, rewardModelOptionsSchema, meta, type RewardModelPluginOptions } from './plugin.js';
export { rmCommand } from './command.js';
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

export default rewardModel;
