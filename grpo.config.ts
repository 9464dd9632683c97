// The main job: GRPO on the built-in math task, starting from the shipped SFT policy.
// `npm start` runs it (`grpo train` finds this file); see README.md.
import { defineConfig } from '@grpo/cli';
import mathTask from '@grpo/plugin-math-task';

export default defineConfig({
  plugins: [mathTask({ seed: 0, trainSize: 20_000, testSize: 300 })],
  policy: { checkpoint: 'plugins/math-task/checkpoints/sft' },
  outputDir: 'runs/main',
  seed: 0,
  generation: { maxNewTokens: 40, temperature: 1 },
  train: {
    steps: 80,
    promptsPerStep: 16,
    groupSize: 8,
    learningRate: 1e-4,
    maxGradNorm: 1,
    checkpointEvery: 20,
    logSamplesEvery: 5,
  },
  algorithm: { kl: { beta: 0.04 } },
  eval: { k: 8 },
});
