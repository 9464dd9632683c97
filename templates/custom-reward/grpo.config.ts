// `npm run train` runs 2 steps of this config (a smoke run); `npm run train:full` runs all of it.
import { defineConfig } from '@grpo/cli';
import mathTask, { MATH_TASK_CHARS } from '@grpo/plugin-math-task';
import tokenizers from '@grpo/plugin-tokenizers';
import conciseAnswer from './src/concise-answer.js';

export default defineConfig({
  plugins: [
    // The built-in arithmetic task: prompts, held-out problems and the `task_accuracy` reward.
    mathTask({ seed: 0, trainSize: 5_000, testSize: 16 }),
    tokenizers({ char: { chars: MATH_TASK_CHARS } }),
    // Your reward, next to the task's.
    conciseAnswer({ maxChars: 48, falloff: 48 }),
  ],
  policy: { model: { dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 128 } },
  outputDir: 'runs/latest',
  seed: 0,
  generation: { maxNewTokens: 32, temperature: 1 },
  train: { steps: 100, promptsPerStep: 4, groupSize: 4, learningRate: 1e-3, logSamplesEvery: 1 },
  // Correctness matters more than brevity.
  rewards: { weights: { task_accuracy: 1, concise_answer: 0.25 } },
  eval: { accuracyReward: 'task_accuracy', k: 2 },
});
