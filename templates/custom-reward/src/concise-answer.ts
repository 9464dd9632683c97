import { definePlugin, field, RewardFunction, type RewardInput, type RewardScore } from '@grpo/core';
import { z } from 'zod';

export interface ConciseAnswerOptions {
  /** Reward name in logs and `rewards.weights` (default `concise_answer`). */
  readonly name?: string;
  /** Completions up to this many characters get the full score (default 48). */
  readonly maxChars?: number;
  /** Characters over `maxChars` after which the score reaches 0 (default 48). */
  readonly falloff?: number;
}

/** The last line, when it states a final answer the GSM8K way: `#### <integer>`. */
const FINAL_LINE = /(?:^|\n)#### -?\d+\s*$/;

/**
 * 1 for a completion that ends with a `#### <number>` line and is at most `maxChars` long; the
 * score falls linearly to 0 over the next `falloff` characters; 0 without a final-answer line.
 * It says nothing about correctness: pair it with an accuracy reward.
 */
export function conciseAnswerReward(options: ConciseAnswerOptions = {}): RewardFunction {
  const maxChars = options.maxChars ?? 48;
  const falloff = options.falloff ?? 48;
  if (!(maxChars >= 0) || !(falloff > 0)) throw new Error(`concise_answer: expected maxChars ≥ 0 and falloff > 0, got ${maxChars} and ${falloff}`);
  const scoreOne = (completion: string): number => {
    const text = completion.trimEnd();
    if (!FINAL_LINE.test(text)) return 0;
    const over = Math.max(0, text.length - maxChars);
    return Math.max(0, 1 - over / falloff);
  };
  return {
    name: options.name ?? 'concise_answer',
    score: ({ completions }: RewardInput): RewardScore[] => completions.map(scoreOne),
  };
}

/** The plugin's options: checked with the config, problems reported under `plugins[grpo-plugin-concise-answer]`. */
export const conciseAnswerOptions = z
  .strictObject({
    name: z.string().min(1).optional(),
    maxChars: field.int(0).optional(),
    falloff: field.positive().optional(),
  })
  .prefault({});

/** The plugin: binds the reward to core's `RewardFunction` token (one of many rewards). */
export const conciseAnswer = definePlugin({
  meta: { name: 'grpo-plugin-concise-answer', version: '0.1.0', core: '^0.1.0' },
  options: conciseAnswerOptions,
  register: ({ bind, options }) => void bind<RewardFunction>(RewardFunction).toConstantValue(conciseAnswerReward(options)),
});

export default conciseAnswer;
