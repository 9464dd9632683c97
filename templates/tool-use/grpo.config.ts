// `npm run train` is a short run of this config (5 steps); `npm run train:full` runs all of it.
import { defineConfig } from '@grpo/cli';
import mathTask, { sftCheckpoint } from '@grpo/plugin-math-task';
import calculator from './src/calculator.js';

export default defineConfig({
  plugins: [
    // The built-in arithmetic task: prompts, held-out problems and the `task_accuracy` reward.
    mathTask({ seed: 0, trainSize: 5_000, testSize: 100 }),
    // Your tool: the policy's `<<calc 23*7>>` is answered `=161` and a newline.
    calculator(),
  ],
  // The shipped tool SFT policy: the same model size as the main job's, trained on solutions
  // that call the calculator (`<<calc 18+42>>=60`), so it already uses the tool.
  policy: { checkpoint: sftCheckpoint({ tool: true }) },
  outputDir: 'runs/latest',
  seed: 0,
  // WebAssembly gives the same numbers on every machine, so the figures in README.md reproduce
  // exactly; remove this line to train on the faster default `native` backend (OpenBLAS).
  backend: 'wasm',
  // Turns of ≤ 24 tokens, ≤ 8 turns and ≤ 72 tokens per trajectory, the calculator's answers included.
  generation: { maxNewTokens: 24, temperature: 1, environment: { maxTurns: 8, maxTokens: 72 } },
  train: { steps: 30, promptsPerStep: 8, groupSize: 8, learningRate: 1e-4, logSamplesEvery: 5 },
  eval: { accuracyReward: 'task_accuracy', k: 2 },
});
