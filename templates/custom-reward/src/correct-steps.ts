import { definePlugin, field, RewardFunction, type RewardInput, type RewardScore } from '@grpo/core';
import { z } from 'zod';

export interface CorrectStepsOptions {
  /** Reward name in logs and `rewards.weights` (default `correct_steps`). */
  readonly name?: string;
  /** Score of a step whose arithmetic is wrong (default 0; negative to penalise it). */
  readonly wrongStep?: number;
}

/** One solution step: `a op b=c` with integers, `op` one of `+ - *` (spaces allowed). */
const STEP = /^\s*(-?\d+)\s*([+\-*])\s*(-?\d+)\s*=\s*(-?\d+)\s*$/;

/** Whether a line is a step whose arithmetic holds; `undefined` when it is not a step at all. */
export function stepHolds(line: string): boolean | undefined {
  const m = STEP.exec(line);
  if (!m) return undefined;
  const [a, b, c] = [Number(m[1]), Number(m[3]), Number(m[4])];
  const value = m[2] === '+' ? a + b : m[2] === '-' ? a - b : a * b;
  return value === c;
}

/**
 * The share of a completion's lines before its `####` answer line that are steps with right
 * arithmetic (`18+42=60`: 1; `60-53=8`: `wrongStep`; a line that is no step: 0). It rewards
 * careful working whether or not the final answer is right, so it has something to say about
 * every sample, also when a whole group is wrong; pair it with an accuracy reward.
 */
export function correctStepsReward(options: CorrectStepsOptions = {}): RewardFunction {
  const wrong = options.wrongStep ?? 0;
  if (!Number.isFinite(wrong)) throw new Error(`correct_steps: expected a finite wrongStep, got ${wrong}`);
  const scoreOne = (completion: string): number => {
    const lines = completion.split('\n');
    const end = lines.findIndex((l) => l.includes('####'));
    const steps = (end === -1 ? lines : lines.slice(0, end)).filter((l) => l.trim() !== '');
    if (steps.length === 0) return 0;
    const scores = steps.map((l) => {
      const holds = stepHolds(l);
      return holds === undefined ? 0 : holds ? 1 : wrong;
    });
    return scores.reduce((a, s) => a + s, 0) / steps.length;
  };
  return {
    name: options.name ?? 'correct_steps',
    score: ({ completions }: RewardInput): RewardScore[] => completions.map(scoreOne),
  };
}

/** The plugin's options: checked with the config, problems reported under `plugins[grpo-plugin-correct-steps]`. */
export const correctStepsOptions = z
  .strictObject({
    name: z.string().min(1).optional(),
    wrongStep: field.num().optional(),
  })
  .prefault({});

/** The plugin: binds the reward to core's `RewardFunction` token (one of many rewards). */
export const correctSteps = definePlugin({
  meta: { name: 'grpo-plugin-correct-steps', version: '0.1.0', core: '^0.1.0' },
  options: correctStepsOptions,
  register: ({ bind, options }) => void bind<RewardFunction>(RewardFunction).toConstantValue(correctStepsReward(options)),
});

export default correctSteps;
