// Type tests: mistakes a plugin author can make must be compile errors. Checked by `tsc --noEmit`
// (each @ts-expect-error fails the typecheck if the line below it stops being an error).
import { z } from 'zod';
import { defineConfig, definePlugin, type GrpoPlugin, type RewardFunction, type RewardScore } from '../src/index.js';

// A well-formed reward function and plugin.
const lengthReward: RewardFunction<{ prompt: string; answer: string }> = {
  name: 'length',
  score: ({ completions, rows }) => completions.map((c, i) => (rows[i]?.answer ? c.length : null)),
};
export const good = definePlugin({
  meta: { name: 'grpo-plugin-length', version: '1.0.0', core: '^0.1.0' },
  options: z.strictObject({ weight: z.number().default(1) }).prefault({}),
  // The options register sees are the schema's output: defaults filled in.
  register: ({ options }) => void (options.weight satisfies number),
});
good();
good({ weight: 2 });
export const asyncReward: RewardFunction = { name: 'remote', score: async ({ completions }) => completions.map(() => 1) };
export const processReward: RewardFunction = {
  name: 'steps',
  score: ({ completions }) => completions.map((): RewardScore => ({ score: 1, steps: [{ endChar: 3, reward: 0.5 }] })),
};
void lengthReward;

// @ts-expect-error a reward must return numbers or null, not strings
export const badScore: RewardFunction = { name: 'bad', score: () => ['1'] };
// @ts-expect-error a reward needs a name
export const unnamed: RewardFunction = { score: () => [] };
// @ts-expect-error plugin metadata needs the core range
export const noCoreRange: GrpoPlugin = { meta: { name: 'x', version: '1.0.0' }, register() {} };
// @ts-expect-error plugin options are typed by the factory
good({ weight: 'heavy' });
// @ts-expect-error step rewards need an end offset
export const badSteps: RewardScore = { score: 1, steps: [{ reward: 1 }] };

// @ts-expect-error a plugin without options takes none
definePlugin({ meta: { name: 'x', version: '1.0.0', core: '*' }, register: () => {} })({ weight: 1 });

// Configs are typed too (core's sections here; plugin sections in each plugin's type tests).
export const config = defineConfig({ train: { groupSize: 8 }, policy: { checkpoint: 'ckpt' } });
// @ts-expect-error groupSize is a number
defineConfig({ train: { groupSize: 'eight' } });
// @ts-expect-error unknown core key
defineConfig({ trian: {} });
