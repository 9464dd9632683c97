import { describe, expect, it } from 'vitest';
import { Algorithm, assembleContainer, defineConfig, resolveConfig, RewardShaper, RolloutFilter, type GrpoConfigInput } from '@grpo/core';
import { grpo } from '../src/index.js';
import { dapo, deepseekMath, drGrpo, gspo, reinforcePlusPlus, rft, rloo, type AlgorithmPreset } from '../src/presets.js';

/** The algorithm a config with the preset resolves to, as the trainer gets it. */
async function algorithmOf(input: GrpoConfigInput) {
  const container = await assembleContainer(await resolveConfig(input, { source: 'test', defaults: [grpo()] }));
  const a = container.get<Algorithm>(Algorithm);
  return {
    estimator: a.estimator.name,
    objective: a.objective.name,
    aggregation: a.aggregation.name,
    kl: a.kl,
    filters: container.getAll<RolloutFilter>(RolloutFilter, { optional: true }).map((f) => f.name),
    shapers: container.getAll<RewardShaper>(RewardShaper, { optional: true }).map((s) => s.name),
  };
}

describe('presets (@grpo/plugin-grpo/presets)', () => {
  it('are config fragments that defineConfig takes spread next to other keys', () => {
    const config = defineConfig({ ...dapo(), train: { steps: 10 } });
    expect(config.algorithm).toEqual(dapo().algorithm);
    expect(config.train).toEqual({ steps: 10 });
  });

  it('select what docs/algorithms.md says for each recipe', async () => {
    const cases: [AlgorithmPreset, Partial<Awaited<ReturnType<typeof algorithmOf>>>][] = [
      [deepseekMath(), { estimator: 'grpo', aggregation: 'seq-mean-token-mean', kl: { placement: 'loss', beta: 0.04 } }],
      [drGrpo(), { estimator: 'dr-grpo', aggregation: 'constant', kl: { placement: 'loss', beta: 0.04 } }],
      [dapo(), { estimator: 'grpo', aggregation: 'token-mean', kl: { placement: 'none', beta: 0 }, filters: ['dynamic_sampling'], shapers: ['overlong'] }],
      [gspo(), { estimator: 'grpo', aggregation: 'seq-mean-token-mean', kl: { placement: 'none', beta: 0 } }],
      [rloo(), { estimator: 'rloo' }],
      [reinforcePlusPlus(), { estimator: 'reinforce-plus-plus' }],
      [rft(), { estimator: 'rft' }],
    ];
    for (const [preset, expected] of cases) expect(await algorithmOf({ ...preset })).toMatchObject({ objective: 'clipped-surrogate', ...expected });
  });

  it('take changes key by key, keeping the rest of the recipe', async () => {
    const preset = dapo({ overlong: { buffer: 8 }, kl: { beta: 0.01 } });
    expect(preset.algorithm).toMatchObject({
      overlong: { enabled: true, buffer: 8, factor: 1 },
      kl: { beta: 0.01 },
      lossAggregation: 'token-mean',
      objective: { epsilonLow: 0.2, epsilonHigh: 0.28 },
    });
    expect(dapo().algorithm.overlong).toEqual({ enabled: true, buffer: 16, factor: 1 });
    const config = await resolveConfig({ ...gspo({ objective: { epsilonHigh: 5e-4 } }) }, { source: 'test', defaults: [grpo()] });
    expect(config.algorithm.objective).toMatchObject({ ratioLevel: 'sequence', epsilonLow: 3e-4, epsilonHigh: 5e-4 });
  });
});
