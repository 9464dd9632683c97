/** @grpo/plugin-math-reward: rule-based math rewards for GRPO. */
import { definePlugin, field, RewardFunction } from '@grpo/core';
import { z } from 'zod';
import {
  accuracyReward,
  cosineLengthReward,
  formatReward,
  kimiLengthReward,
  overlongPenalty,
  reasoningStepsReward,
  repetitionPenalty,
  tagCountReward,
  type AccuracyOptions,
  type CosineLengthOptions,
  type FormatOptions,
  type KimiLengthOptions,
  type OverlongOptions,
  type ReasoningStepsOptions,
  type RepetitionOptions,
  type TagCountOptions,
} from './rewards.js';

export * from './rewards.js';
export { verifyMath, type VerifyOptions, type VerifyResult } from './verify.js';
export {
  extractAnswer,
  extractReference,
  DEFAULT_ORDER,
  type ExtractOptions,
  type Extraction,
  type ExtractionStep,
  type MissingThinkPolicy,
} from './extract.js';
export type { PercentPolicy } from './normalize.js';
export { loadGsm8k, parseGsm8k, parseGsm8kAnswer, type Gsm8kOptions, type Gsm8kRow } from './gsm8k.js';

export const PLUGIN_NAME = '@grpo/plugin-math-reward';
export const PLUGIN_VERSION = '0.1.0';

/** Which rewards the plugin binds: `true` for defaults, an options object, or `false`/absent to skip. */
export interface MathRewardOptions {
  /** Default: on. */
  readonly accuracy?: AccuracyOptions | boolean;
  /** Default: on (`think-answer` style). */
  readonly format?: FormatOptions | boolean;
  readonly tagCount?: TagCountOptions | boolean;
  readonly reasoningSteps?: ReasoningStepsOptions | boolean;
  readonly cosineLength?: CosineLengthOptions | boolean;
  readonly kimiLength?: KimiLengthOptions | boolean;
  /** Needs maxLength and bufferLength, so there is no `true` shorthand. */
  readonly overlong?: OverlongOptions | false;
  readonly repetition?: RepetitionOptions | boolean;
}

function pick<O>(value: O | boolean | undefined, fallback: boolean, make: (o: O | undefined) => RewardFunction): RewardFunction | null {
  const on = value === undefined ? fallback : value !== false;
  if (!on) return null;
  return make(typeof value === 'object' ? value : undefined);
}

/** The reward functions selected by `options`, in a fixed order. */
export function mathRewards(options: MathRewardOptions = {}): RewardFunction[] {
  const list = [
    pick(options.accuracy, true, (o) => accuracyReward(o)),
    pick(options.format, true, (o) => formatReward(o)),
    pick(options.tagCount, false, (o) => tagCountReward(o)),
    pick(options.reasoningSteps, false, (o) => reasoningStepsReward(o)),
    pick(options.cosineLength, false, (o) => cosineLengthReward(o)),
    pick(options.kimiLength, false, (o) => kimiLengthReward(o)),
    options.overlong ? overlongPenalty(options.overlong) : null,
    pick(options.repetition, false, (o) => repetitionPenalty(o)),
  ];
  return list.filter((r): r is RewardFunction => r !== null);
}

/** One reward's option: `true`/`false` or its options object (checked by the reward's own factory). */
const toggle = z.union([z.boolean(), z.record(z.string(), z.unknown())], {
  error: (i) => `expected true, false or an options object, got ${JSON.stringify(i.input)}`,
});

/** `mathReward(options)`: each key checked by building its reward, so a bad option is reported with the config's problems. */
export const mathRewardOptionsSchema = field
  .checkedBy(
    z.strictObject({
      accuracy: toggle.optional(),
      format: toggle.optional(),
      tagCount: toggle.optional(),
      reasoningSteps: toggle.optional(),
      cosineLength: toggle.optional(),
      kimiLength: toggle.optional(),
      overlong: z.union([z.literal(false), z.record(z.string(), z.unknown())]).optional(),
      repetition: toggle.optional(),
    }),
    (options) => mathRewards(options as MathRewardOptions),
  )
  .prefault({});

/** Plugin factory: binds each selected reward to the `RewardFunction` token (a multi-binding). */
const mathReward = definePlugin({
  meta: { name: PLUGIN_NAME, version: PLUGIN_VERSION, core: '^0.1.0' },
  options: mathRewardOptionsSchema,
  register({ bind, options }) {
    for (const reward of mathRewards(options as MathRewardOptions)) bind<RewardFunction>(RewardFunction).toConstantValue(reward);
  },
});
export default mathReward;
