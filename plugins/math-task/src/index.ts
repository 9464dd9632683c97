/** @grpo/plugin-math-task: a seeded, procedurally generated multi-step arithmetic task with step-checkable solutions. */
import { fileURLToPath } from 'node:url';
import mathTask from './plugin.js';

export * from './difficulty.js';
export * from './generate.js';
export * from './rewards.js';
export * from './dataset.js';
export { calculatorEnvironment, calculatorTool, evaluateExpression } from './calculator.js';
export { DEFAULT_TEST_SIZE, DEFAULT_TRAIN_SIZE, mathTaskOptionsSchema, mathTaskParts, PLUGIN_NAME, PLUGIN_VERSION, type MathTaskOptions } from './plugin.js';

/**
 * The directory of the shipped SFT policy, `checkpoints/sft` of this package (it is in the
 * published files): a 0.8 M-parameter character-level transformer (4 layers, d = 128, the task's
 * 46 characters) trained on this task's solutions, greedy accuracy about 31 % on the default test
 * split. Start GRPO from it with `policy: { checkpoint: sftCheckpoint() }`;
 * `npm run sft:example` in the GRPO.ts repository re-creates it.
 */
export function sftCheckpoint(options: { tool?: boolean } = {}): string {
  // src/index.ts and the built dist/index.js are both one level below the package root.
  return fileURLToPath(new URL(options.tool ? '../checkpoints/sft-calc' : '../checkpoints/sft', import.meta.url));
}

export default mathTask;
