/**
 * `@grpo/plugin-grpo/presets`: the recipes of docs/algorithms.md as typed config fragments. Each
 * returns `{ algorithm }` to spread into a config; changes to a recipe go into its argument, which
 * is merged into the recipe key by key (a spread `algorithm` next to it would replace all of it):
 *
 * ```ts
 * import { defineConfig } from '@grpo/cli';
 * import { dapo } from '@grpo/plugin-grpo/presets';
 *
 * export default defineConfig({ ...dapo({ overlong: { buffer: 8 } }), train: { steps: 100 } });
 * ```
 */
import type { z } from 'zod';
import type { algorithmSchema } from './config.js';

/** What a config's `algorithm` section takes (every key optional). */
export type AlgorithmInput = NonNullable<z.input<typeof algorithmSchema>>;

/** A config fragment: `defineConfig({ ...preset(), … })`. */
export interface AlgorithmPreset {
  readonly algorithm: AlgorithmInput;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function merge(base: Record<string, unknown>, changes: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(changes)) {
    const b = out[key];
    out[key] = isObject(b) && isObject(value) ? merge(b, value) : value;
  }
  return out;
}

const preset = (recipe: AlgorithmInput, changes: AlgorithmInput = {}): AlgorithmPreset => ({
  algorithm: merge(recipe as Record<string, unknown>, changes as Record<string, unknown>) as AlgorithmInput,
});

/** DeepSeekMath's GRPO, the defaults spelled out: z-scored group advantages, β = 0.04 with k3 in the loss, sequence-mean of token-means. */
export const deepseekMath = (changes?: AlgorithmInput): AlgorithmPreset =>
  preset({ advantage: { estimator: 'grpo' }, kl: { beta: 0.04, estimator: 'k3' }, lossAggregation: 'seq-mean-token-mean' }, changes);

/** Dr. GRPO (arXiv 2503.20783): no division by the group's std, a constant normaliser (no length bias). */
export const drGrpo = (changes?: AlgorithmInput): AlgorithmPreset => preset({ advantage: { estimator: 'dr-grpo' }, lossAggregation: 'constant' }, changes);

/** DAPO (arXiv 2503.14476): clip-higher (0.2 / 0.28), token-mean, dynamic sampling, overlong shaping, no KL. */
export const dapo = (changes?: AlgorithmInput): AlgorithmPreset =>
  preset(
    {
      objective: { epsilonLow: 0.2, epsilonHigh: 0.28 },
      kl: { beta: 0 },
      lossAggregation: 'token-mean',
      dynamicSampling: { enabled: true, maxRounds: 3 },
      overlong: { enabled: true, buffer: 16, factor: 1 },
    },
    changes,
  );

/** GSPO (arXiv 2507.18071): a length-normalised sequence-level ratio with a tight clip range (3e-4 / 4e-4), no KL. */
export const gspo = (changes?: AlgorithmInput): AlgorithmPreset =>
  preset({ objective: { ratioLevel: 'sequence', epsilonLow: 3e-4, epsilonHigh: 4e-4 }, kl: { beta: 0 } }, changes);

/** RLOO: each completion's baseline is the mean reward of the others in its group. */
export const rloo = (changes?: AlgorithmInput): AlgorithmPreset => preset({ advantage: { estimator: 'rloo' } }, changes);

/** REINFORCE++ (arXiv 2501.03262): group-centred rewards whitened over the batch's tokens. */
export const reinforcePlusPlus = (changes?: AlgorithmInput): AlgorithmPreset => preset({ advantage: { estimator: 'reinforce-plus-plus' } }, changes);

/** Online rejection-sampling fine-tuning (DeepSeekMath §5.2.1): trains only on correct samples. */
export const rft = (changes?: AlgorithmInput): AlgorithmPreset => preset({ advantage: { estimator: 'rft' } }, changes);
