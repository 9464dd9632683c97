// `npm run train` is a short run of this config (5 steps); `npm run train:full` runs all of it.
import { defineConfig } from '@grpo/cli';
import { sftCheckpoint } from '@grpo/plugin-math-task';
import { mathReasoning } from './src/task.js';

export default defineConfig({
  plugins: [mathReasoning({ seed: 0, testSize: 100 })],
  // The shipped SFT policy of the math task (0.8 M parameters, character level), which solves
  // about a third of the problems. For your own task, point this at a checkpoint trained on it
  // (a directory, a training checkpoint or a run directory).
  policy: { checkpoint: sftCheckpoint() },
  outputDir: 'runs/latest',
  seed: 0,
  // WebAssembly gives the same numbers on every machine, so the figures in README.md reproduce
  // exactly; remove this line to train on the faster default `native` backend (OpenBLAS).
  backend: 'wasm',
  generation: { maxNewTokens: 40, temperature: 1 },
  train: { steps: 30, promptsPerStep: 8, groupSize: 8, learningRate: 1e-4, logSamplesEvery: 5 },
  algorithm: { advantage: { estimator: 'grpo' }, kl: { beta: 0.04 } },
  // math-reward's `accuracy` scores the same answers as the task's own `task_accuracy` judge,
  // which stays bound for evaluation: weigh it 0 so correctness is not counted twice.
  rewards: { weights: { task_accuracy: 0 } },
  eval: { accuracyReward: 'accuracy', k: 2 },
});
