// `npm run train` runs 2 steps of this config (a smoke run); `npm run train:full` runs all of it.
import { defineConfig } from '@grpo/cli';
import mathTask, { MATH_TASK_CHARS } from '@grpo/plugin-math-task';
import tokenizers from '@grpo/plugin-tokenizers';
import medianBaseline, { ESTIMATOR_NAME } from './src/median-baseline.js';

export default defineConfig({
  plugins: [mathTask({ seed: 0, trainSize: 5_000, testSize: 16 }), tokenizers({ char: { chars: MATH_TASK_CHARS } }), medianBaseline()],
  // Selected by name: the plugin only makes it available.
  algorithm: { advantage: { estimator: ESTIMATOR_NAME }, kl: { beta: 0.04 } },
  policy: { model: { dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 128 } },
  outputDir: 'runs/latest',
  seed: 0,
  generation: { maxNewTokens: 32, temperature: 1 },
  train: { steps: 100, promptsPerStep: 4, groupSize: 4, learningRate: 1e-3, logSamplesEvery: 1 },
  eval: { k: 2 },
});
