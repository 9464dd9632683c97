// `npm run train` is a short run of this config (5 steps); `npm run train:full` runs all of it.
import { defineConfig } from '@grpo/cli';
import mathTask, { sftCheckpoint } from '@grpo/plugin-math-task';
import correctSteps from './src/correct-steps.js';

export default defineConfig({
  plugins: [
    // The built-in arithmetic task: prompts, held-out problems and the `task_accuracy` reward.
    mathTask({ seed: 0, trainSize: 5_000, testSize: 100 }),
    // Your reward, next to the task's.
    correctSteps(),
  ],
  // The shipped SFT policy (0.8 M parameters, character level): it already solves about a third
  // of the problems, so the rewards tell its completions apart from the first step.
  policy: { checkpoint: sftCheckpoint() },
  outputDir: 'runs/latest',
  seed: 0,
  // WebAssembly gives the same numbers on every machine, so the figures in README.md reproduce
  // exactly; remove this line to train on the faster default `native` backend (OpenBLAS).
  backend: 'wasm',
  generation: { maxNewTokens: 40, temperature: 1 },
  train: { steps: 30, promptsPerStep: 8, groupSize: 8, learningRate: 1e-4, logSamplesEvery: 5 },
  // The total reward is the weighted sum: a right answer counts twice as much as right working.
  rewards: { weights: { task_accuracy: 1, correct_steps: 0.5 } },
  eval: { accuracyReward: 'task_accuracy', k: 2 },
});
