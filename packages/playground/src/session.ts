/**
 * A GRPO run on the built-in math task, assembled from plugin objects the same way in a browser
 * (the playground's worker) and in Node (its test and benchmark): the policy from a checkpoint's
 * files in memory, the GRPO algorithm, the task's data and rewards, and optionally a reward of the
 * page's own. No file system: checkpoints come in and go out as files in memory.
 */
import {
  assembleContainer,
  definePlugin,
  Policy,
  resolvePluginConfig,
  RewardFunction,
  selectNamed,
  TensorBackend,
  Trainer,
  type PluginEntry,
} from '@grpo/core';
import backendWasm from '@grpo/plugin-backend-wasm';
import grpo from '@grpo/plugin-grpo';
import mathTask from '@grpo/plugin-math-task';
import { policyFromFiles, type TransformerPolicy } from '@grpo/plugin-transformer';
import * as tf from '@tensorflow/tfjs';
import { CUSTOM_REWARD, TASK_REWARD, type PlaygroundSettings, type StepView } from './settings.js';

export { CUSTOM_REWARD, DEFAULT_SETTINGS, TASK_REWARD, type PlaygroundSettings, type StepView } from './settings.js';

/** The raw config of a session: grpo.config.ts's training settings with the page's values. */
export function sessionConfig(settings: PlaygroundSettings, customReward: boolean): Record<string, unknown> {
  return {
    backend: settings.backend,
    seed: settings.seed,
    generation: { maxNewTokens: settings.maxNewTokens, temperature: settings.temperature },
    train: {
      steps: 1_000_000,
      promptsPerStep: settings.promptsPerStep,
      groupSize: settings.groupSize,
      learningRate: settings.learningRate,
      maxGradNorm: 1,
      logSamplesEvery: 1,
    },
    algorithm: { kl: { beta: settings.beta } },
    rewards: { weights: customReward ? { [TASK_REWARD]: 0, [CUSTOM_REWARD]: 1 } : {} },
  };
}

export interface SessionOptions {
  /** The starting checkpoint's files (`config.json`, `model.safetensors`, `tokenizer.json`). */
  files: Readonly<Record<string, Uint8Array>>;
  settings: PlaygroundSettings;
  /** A reward of the page's own (named `custom`); the task's accuracy then only is logged. */
  reward?: RewardFunction;
  /** More plugins (e.g. the page's WebGL backend), loaded after the session's. */
  plugins?: readonly PluginEntry[];
}

/** A policy, its trainer and the task: one GRPO run, step by step. */
export class Session {
  private constructor(
    readonly trainer: Trainer,
    readonly policy: TransformerPolicy,
  ) {}

  static async create(options: SessionOptions): Promise<Session> {
    const { settings } = options;
    const custom = options.reward ? { ...options.reward, name: CUSTOM_REWARD } : undefined;
    const plugins: PluginEntry[] = [
      grpo(),
      backendWasm(),
      // testSize 0: no evaluation split is generated (the page charts the training accuracy).
      mathTask({ seed: settings.seed, testSize: 0 }),
      ...(options.plugins ?? []),
    ];
    const config = resolvePluginConfig(sessionConfig(settings, custom !== undefined), plugins, '(playground)');
    // The policy is bound by a plugin of its own, so the container needs no policy factory (which reads directories).
    const policyPlugin = (policy: TransformerPolicy) =>
      definePlugin({
        meta: { name: 'playground', version: '0.0.0', core: '^0.1.0' },
        register({ bind }) {
          bind<Policy>(Policy).toConstantValue(policy);
          if (custom) bind<RewardFunction>(RewardFunction).toConstantValue(custom);
        },
      })();
    const probe = await assembleContainer(config);
    await selectNamed<TensorBackend>(probe, TensorBackend, config.backend, 'tensor backend').setup();
    const policy = await policyFromFiles(options.files, 'checkpoint');
    const container = await assembleContainer({ ...config, plugins: [...config.plugins, policyPlugin(policy)] });
    return new Session(await Trainer.fromContainer(container), policy);
  }

  /** Runs one GRPO step (sample → score → advantages → update). */
  async step(): Promise<StepView> {
    const started = performance.now();
    const summary = await this.trainer.trainStep();
    const m = summary.metrics;
    const pick = (...keys: string[]) => keys.map((k) => m[k]).find((v) => v !== undefined) ?? NaN;
    return {
      step: summary.step,
      reward: pick('reward', 'reward/mean'),
      kl: pick('kl', 'kl/mean'),
      accuracy: pick(`rewards/${TASK_REWARD}/mean`, `rewards/${TASK_REWARD}`),
      seconds: (performance.now() - started) / 1000,
      metrics: m,
      samples: summary.samples,
    };
  }

  /** `nextTokenLogProbs` of this session's policy. */
  nextTokenLogProbs(prompt: string): number[] {
    return nextTokenLogProbs(this.policy, prompt);
  }

  /** The current policy as checkpoint files (what `grpo eval --checkpoint <dir>` reads). */
  files(): Promise<Record<string, Uint8Array | string>> {
    return this.policy.files();
  }

  dispose(): void {
    this.trainer.reference?.dispose?.();
    this.policy.dispose();
  }
}

/**
 * A policy's next-token log-probabilities after `prompt` (encoded as the trainer encodes prompts,
 * BOS first), one per vocabulary id: the logits up to a constant, for comparing two copies of a
 * policy exactly (the page's and one loaded in Node from the downloaded checkpoint).
 */
export function nextTokenLogProbs(policy: TransformerPolicy, prompt: string): number[] {
  const ids = policy.encodePrompt(prompt);
  const vocab = policy.config.vocabSize;
  const batch = { prompts: Array.from({ length: vocab }, () => ids), completions: Array.from({ length: vocab }, (_, v) => [v]) };
  return tf.tidy(() => Array.from(policy.tokenLogProbs(batch).logprobs.dataSync()));
}
