import type { PluginEntry } from '@grpo/core';
import mathReward from '@grpo/plugin-math-reward';
import mathTask from '@grpo/plugin-math-task';

export interface MathReasoningOptions {
  /** Seed of the generated problems. */
  readonly seed?: number;
  /** Held-out problems for accuracy before and after training. */
  readonly testSize?: number;
}

/**
 * A preset (a list of plugins): the built-in arithmetic task (prompts, held-out problems and its
 * `task_accuracy` judge) and the math rewards: `accuracy` (the final answer equals the
 * reference) and `repetition` (a penalty for repeated n-grams). The policy and its tokenizer come
 * from the checkpoint in `grpo.config.ts`.
 */
export function mathReasoning(options: MathReasoningOptions = {}): PluginEntry[] {
  return [
    mathTask({ seed: options.seed ?? 0, trainSize: 5_000, testSize: options.testSize ?? 32 }),
    mathReward({ accuracy: true, format: false, repetition: true }),
  ];
}
