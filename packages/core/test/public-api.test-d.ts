// Type tests: mistakes a plugin author can make must be compile errors. Checked by `tsc --noEmit`
// (each @ts-expect-error fails the typecheck if the line below it stops being an error).
import { ContainerModule } from 'inversify';
import { defineConfig, definePlugin, type GrpoPlugin, type RewardFunction, type RewardScore } from '../src/index.js';

// A well-formed reward function and plugin.
const lengthReward: RewardFunction<{ prompt: string; answer: string }> = {
  name: 'length',
  score: ({ completions, rows }) => completions.map((c, i) => (rows[i]?.answer ? c.length : null)),
};
export const good = definePlugin<{ weight: number }>((options) => ({
  meta: { name: 'grpo-plugin-length', version: '1.0.0', core: '^0.1.0' },
  module: new ContainerModule(() => void options?.weight),
}));
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

// Configs are typed too.
export const config = defineConfig({ train: { groupSize: 8 }, algorithm: { kl: { beta: 0 } } });
// @ts-expect-error unknown loss aggregation option type
defineConfig({ algorithm: { lossAggregation: 3 } });
// @ts-expect-error std is 'unbiased' | 'biased'
defineConfig({ algorithm: { advantage: { std: 'sample' } } });
