/** The page's settings and what it shows of a step: plain data, shared by the page and the worker (no tfjs here). */
import type { SampleLog } from '@grpo/core';

/** The hyper-parameters the page exposes (the rest are the main job's, `grpo.config.ts`). */
export interface PlaygroundSettings {
  /** Tensor backend by name: `wasm` (default, the same binary as in Node) or `webgl`. */
  backend: string;
  seed: number;
  learningRate: number;
  /** G: completions per prompt. */
  groupSize: number;
  /** β of the KL penalty to π_ref. */
  beta: number;
  promptsPerStep: number;
  maxNewTokens: number;
  temperature: number;
}

/** The main job's settings (grpo.config.ts) with a smaller step, so a step takes seconds. */
export const DEFAULT_SETTINGS: PlaygroundSettings = {
  backend: 'wasm',
  seed: 0,
  learningRate: 1e-4,
  groupSize: 8,
  beta: 0.04,
  promptsPerStep: 4,
  maxNewTokens: 40,
  temperature: 1,
};

/** The built-in reward of the task; a page reward replaces it in the total (it is still logged, weight 0). */
export const TASK_REWARD = 'task_accuracy';
/** The name the page's own reward is bound under. */
export const CUSTOM_REWARD = 'custom';

/** One step as the page shows it. */
export interface StepView {
  step: number;
  /** Mean total reward of the step's completions. */
  reward: number;
  /** Mean KL(π‖π_ref) estimate. */
  kl: number;
  /** Share of the step's completions whose final answer is right (`task_accuracy`), whatever the reward. */
  accuracy: number;
  seconds: number;
  metrics: Record<string, number>;
  samples: SampleLog[];
}
