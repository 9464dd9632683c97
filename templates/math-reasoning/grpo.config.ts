// `npm run train` runs 2 steps of this config (a smoke run); `npm run train:full` runs all of it.
import { defineConfig } from '@grpo/cli';
import { mathReasoning } from './src/task.js';

export default defineConfig({
  plugins: [mathReasoning({ seed: 0, testSize: 16 })],
  // A fresh tiny character-level policy. To start from a trained one instead (e.g. an SFT
  // checkpoint), set `policy: { checkpoint: 'path/to/checkpoint' }` and drop `model`.
  policy: { model: { dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 128 } },
  outputDir: 'runs/latest',
  seed: 0,
  generation: { maxNewTokens: 32, temperature: 1 },
  train: { steps: 100, promptsPerStep: 4, groupSize: 4, learningRate: 1e-3, logSamplesEvery: 1 },
  algorithm: { advantage: { estimator: 'grpo' }, kl: { beta: 0.04 } },
  // math-reward's `accuracy` scores the same answers as the task's own `task_accuracy` judge,
  // which stays bound for evaluation: weigh it 0 so correctness is not counted twice.
  rewards: { weights: { task_accuracy: 0 } },
  eval: { accuracyReward: 'accuracy', k: 2 },
});
