// @grpo/plugin-math-task in a browser (the `browser` export condition): everything but
// `sftCheckpoint()`, a directory path; a page fetches the files of `checkpoints/sft` instead.
import mathTask from './plugin.js';

export * from './difficulty.js';
export * from './generate.js';
export * from './rewards.js';
export * from './dataset.js';
export { calculatorEnvironment, calculatorTool, evaluateExpression } from './calculator.js';
export { DEFAULT_TEST_SIZE, DEFAULT_TRAIN_SIZE, mathTaskOptionsSchema, mathTaskParts, PLUGIN_NAME, PLUGIN_VERSION, type MathTaskOptions } from './plugin.js';

export default mathTask;
