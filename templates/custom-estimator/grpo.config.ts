// `npm run train` is a short run of this config (5 steps); `npm run train:full` runs all of it.
import { defineConfig } from '@grpo/cli';
import mathTask, { sftCheckpoint } from '@grpo/plugin-math-task';
import medianBaseline, { ESTIMATOR_NAME } from './src/median-baseline.js';

export default defineConfig({
  plugins: [mathTask({ seed: 0, trainSize: 5_000, testSize: 100 }), medianBaseline()],
  // Selected by name: the plugin only makes it available.
  algorithm: { advantage: { estimator: ESTIMATOR_NAME }, kl: { beta: 0.04 } },
  // The shipped SFT policy (0.8 M parameters, character level): it already solves about a third
  // of the problems, so groups have rewards to rank from the first step.
  policy: { checkpoint: sftCheckpoint() },
  outputDir: 'runs/latest',
  seed: 0,
  // WebAssembly gives the same numbers on every machine, so the figures in README.md reproduce
  // exactly; remove this line to train on the faster default `native` backend (OpenBLAS).
  backend: 'wasm',
  generation: { maxNewTokens: 40, temperature: 1 },
  train: { steps: 30, promptsPerStep: 8, groupSize: 8, learningRate: 1e-4, logSamplesEvery: 5 },
  eval: { k: 2 },
});
