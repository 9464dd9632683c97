import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import {
  ArrayPromptDataset,
  assembleContainer,
  Policy,
  PromptDataset,
  resolveConfig,
  RewardFunction,
  Trainer,
  TrainerHook,
  type GrpoConfigInput,
  type GrpoPlugin,
  type PluginEntry,
  type ResolvedConfig,
} from '@grpo/core';
import grpo from '@grpo/plugin-grpo';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { createPolicy, type TransformerPolicy } from '@grpo/plugin-transformer';

/**
 * A task a fresh tiny transformer learns in seconds: the reward is the fraction of the letter
 * `a` in the completion, so a random policy scores about 1/4 and a trained one close to 1.
 */
export const shareOfA: RewardFunction = {
  name: 'share_of_a',
  score: ({ completions }) => completions.map((c) => (c.length ? [...c].filter((ch) => ch === 'a').length / c.length : 0)),
};

export const tinyTaskPlugin: GrpoPlugin = {
  meta: { name: 'tiny-task', version: '0.0.0', core: '^0.1.0' },
  register: ({ bind }) => {
    bind(RewardFunction).toConstantValue(shareOfA);
    bind(PromptDataset).toConstantValue(
      new ArrayPromptDataset(
        'tiny',
        ['b', 'c', 'd', 'bc', 'cd', 'db'].map((prompt) => ({ prompt })),
      ),
    );
  },
};

/** The tiny task's config, resolved with grpo() and the task (plus `plugins`) as defaults. */
export function tinyConfig(overrides: GrpoConfigInput = {}, outputDir = 'runs/test', plugins: readonly PluginEntry[] = []): Promise<ResolvedConfig> {
  const base: GrpoConfigInput = {
    seed: 5,
    outputDir,
    generation: { maxNewTokens: 6, temperature: 1 },
    train: { steps: 4, promptsPerStep: 4, groupSize: 4, learningRate: 3e-3, logSamplesEvery: 1 },
    algorithm: { kl: { beta: 0.04 } },
  };
  const merged = {
    ...base,
    ...overrides,
    generation: { ...base.generation, ...overrides.generation },
    train: { ...base.train, ...overrides.train },
    algorithm: { ...base.algorithm, ...overrides.algorithm },
  };
  return resolveConfig(merged, { source: 'test', defaults: [grpo(), tinyTaskPlugin, ...plugins] });
}

export async function useWasm(): Promise<void> {
  if (tf.getBackend() !== 'wasm') await setupBackend('wasm');
}

/** The tiny task's fresh policy: the same weights on every call. */
export function tinyPolicy(): TransformerPolicy {
  return createPolicy({ model: { dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 16 }, tokenizer: CharTokenizer.fromChars('abcd'), seed: 11 });
}

/** A trainer over a fresh tiny policy (same seed → same initial weights) or `extra.policy`, with optional extra hooks and rewards. */
export async function tinyTrainer(
  config: ResolvedConfig | Promise<ResolvedConfig>,
  extra: { hooks?: TrainerHook[]; rewards?: RewardFunction[]; policy?: Policy } = {},
): Promise<Trainer> {
  const policy = extra.policy ?? tinyPolicy();
  const container = await assembleContainer(await config);
  container.bind(Policy).toConstantValue(policy);
  for (const hook of extra.hooks ?? []) container.bind(TrainerHook).toConstantValue(hook);
  for (const reward of extra.rewards ?? []) container.bind(RewardFunction).toConstantValue(reward);
  return Trainer.fromContainer(container);
}

/** Metrics that depend on wall-clock time differ between identical runs. */
export function withoutTimings(m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).filter(([k]) => k !== 'step_time' && k !== 'tokens_per_sec' && !k.startsWith('timing/')));
}
