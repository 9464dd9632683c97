import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MetricsRow, SampleRecord } from '../src/index.js';

/** Steps that ran an evaluation in the synthetic run. */
export const EVAL_STEPS = [0, 10, 19];

/** Metrics of a plausible 20-step GRPO run with two reward functions and three evaluations. */
export function syntheticMetrics(steps = 20): MetricsRow[] {
  return Array.from({ length: steps }, (_, step) => {
    const t = step / (steps - 1);
    const wiggle = Math.sin(step * 1.7) * 0.04;
    const row: MetricsRow = {
      step,
      'rewards/accuracy/mean': 0.2 + 0.5 * t + wiggle,
      'rewards/accuracy/std': 0.4 - 0.1 * t,
      'rewards/format/mean': 0.6 + 0.35 * t,
      'rewards/format/std': 0.3 - 0.2 * t,
      reward: 0.8 + 0.85 * t + wiggle,
      reward_std: 0.45 - 0.15 * t,
      frac_reward_zero_std: 0.3 - 0.2 * t,
      'rewards/unscored_frac': 0.05,
      kl: 0.002 * step + 0.001 * Math.abs(Math.cos(step)),
      entropy: 1.9 - 0.6 * t,
      'clip_ratio/low_mean': 0.01 + 0.005 * Math.sin(step),
      'clip_ratio/high_mean': 0.02 + 0.01 * Math.cos(step),
      'clip_ratio/region_mean': 0.03 + 0.005 * Math.sin(step) + 0.01 * Math.cos(step),
      'ratio/mean': 1 + 0.002 * Math.sin(step),
      'completions/mean_length': 120 - 30 * t,
      'completions/min_length': 40 - 10 * t,
      'completions/max_length': 256 - 40 * t,
      'completions/clipped_ratio': 0.12 - 0.1 * t,
      loss: 0.05 * Math.cos(step),
      grad_norm: 0.8 + 0.3 * Math.sin(step * 0.6),
      learning_rate: step < 5 ? (1e-6 * (step + 1)) / 5 : 1e-6 * (1 - (step - 5) / (steps - 5) / 2),
      step_time: 4.2 + 0.3 * Math.sin(step),
      'timing/generate': 2.9 + 0.2 * Math.sin(step),
      'timing/update': 1.1 + 0.1 * Math.cos(step),
      tokens_per_sec: 480 + 20 * Math.cos(step),
      'dynamic_sampling/rounds': step % 3,
    };
    if (EVAL_STEPS.includes(step)) {
      row['eval/reward'] = 0.7 + 0.8 * t;
      row['eval/rewards/accuracy/mean'] = 0.15 + 0.45 * t;
    }
    return row;
  });
}

/** Samples logged at steps 0, 5, 10 and 15: one group of 3 completions each. */
export function syntheticSamples(): SampleRecord[] {
  return [0, 5, 10, 15].flatMap((step) =>
    [0, 1, 2].map((i) => ({
      step,
      reference: String(step + 2),
      prompt: `Question ${step}: what is ${step} + ${i === 0 ? 2 : 2}?`,
      completion:
        i === 2
          ? `<think>${'Let me add the numbers carefully. '.repeat(30)}</think> The answer is ${step + 2} & done. </script><script>alert(1)</script>`
          : `<think>${step} plus 2</think> The answer is ${step + 2 + i}.`,
      reward: i === 1 ? 0.5 : 1.5,
      rewards: { accuracy: i === 1 ? 0 : 1, format: i === 0 ? 0.5 : null },
      advantage: i === 1 ? -1.15 : 0.58,
    })),
  );
}

/** A run's `config.json`: its resolved config (the shape `configToJson` writes) with versions, seed and backend. */
export function syntheticConfig(overrides: { learningRate?: number; seed?: number } = {}): Record<string, unknown> {
  const seed = overrides.seed ?? 0;
  return {
    config: {
      source: '/work/project/grpo.config.ts',
      backend: 'wasm',
      seed,
      outputDir: 'runs/latest',
      policy: { checkpoint: 'checkpoints/sft', model: { dModel: 128, nLayers: 4 } },
      generation: { engine: 'policy', maxNewTokens: 64, temperature: 1 },
      train: { steps: 20, promptsPerStep: 16, groupSize: 8, learningRate: overrides.learningRate ?? 1e-6 },
      algorithm: { advantage: { estimator: 'grpo' }, kl: { beta: 0.04 } },
      plugins: ['@grpo/plugin-grpo@0.1.0', { '@grpo/plugin-math-reward@0.1.0': { accuracy: true } }],
    },
    versions: { '@grpo/core': '0.1.0', node: 'v20.19.0' },
    seed,
    backend: 'wasm',
  };
}

/** Writes the synthetic run into `dir` as the JSONL sink would, with a `config.json` when one is given. */
export async function writeSyntheticRun(
  dir: string,
  metrics = syntheticMetrics(),
  samples = syntheticSamples(),
  config?: Record<string, unknown>,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'metrics.jsonl'), metrics.map((m) => `${JSON.stringify(m)}\n`).join(''));
  await writeFile(path.join(dir, 'samples.jsonl'), samples.map((s) => `${JSON.stringify(s)}\n`).join(''));
  if (config) await writeFile(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
}
