/**
 * Reward-model training data from a policy: sample completions for prompts and label them with a
 * rule (e.g. the math task's `task_accuracy` for outcome labels, `step_correctness` for step labels)
 * — how DeepSeekMath builds its RM data, and what the iterative hook does during RL.
 */
import { rewardInput, scoreWith, type DatasetRow, type Policy, type RewardExample, type RewardFunction, type SamplingOptions } from '@grpo/core';
import { LABELLER_RUN, labelSamples } from './iterative.js';

export interface SampleAndLabelOptions<Row extends DatasetRow> {
  policy: Policy;
  rows: readonly Row[];
  /** The prompt text of a row; default `row.prompt`. */
  prompt?: (row: Row) => string;
  /** Completions sampled per prompt. */
  samplesPerPrompt: number;
  sampling: SamplingOptions;
  /** Labels each sample: its score (outcome) or step rewards (process). */
  labeller: RewardFunction<Row>;
  kind: 'outcome' | 'process';
  /** A score ≥ this is label 1; default 0.5. */
  threshold?: number;
  /** Prompts per `generate` call; default 50. */
  promptsPerCall?: number;
  /** Called after each call with the examples so far. */
  onProgress?: (done: number, total: number) => void;
}

/** Samples `samplesPerPrompt` completions per row and labels them; samples the labeller does not apply to are dropped. */
export async function sampleAndLabel<Row extends DatasetRow>(options: SampleAndLabelOptions<Row>): Promise<RewardExample[]> {
  const { policy, rows, samplesPerPrompt, sampling, labeller, kind } = options;
  const promptOf = options.prompt ?? ((row: Row) => String(row.prompt));
  const per = options.promptsPerCall ?? 50;
  const out: RewardExample[] = [];
  for (let i = 0; i < rows.length; i += per) {
    const part = rows.slice(i, i + per);
    const prompts = part.map(promptOf);
    // A different seed per call, derived from the caller's, so calls do not repeat each other's draws.
    const groups = await policy.generate(prompts, samplesPerPrompt, { ...sampling, seed: (sampling.seed ?? 0) + i });
    const input = rewardInput(groups.map((completions, j) => ({ row: part[j]!, prompt: prompts[j]!, promptIds: [], completions })));
    const { scores } = await scoreWith(labeller as RewardFunction, input, LABELLER_RUN);
    out.push(...labelSamples(input, scores, kind, options.threshold));
    options.onProgress?.(Math.min(i + per, rows.length), rows.length);
  }
  return out;
}
