import { Algorithm, assembleContainer, ConfigError, resolveConfig } from '@grpo/core';
import { describe, expect, it } from 'vitest';
import { grpo } from './plugin.js';

describe('the Algorithm binding', () => {
  it('reports every unknown registry name at once, each at its config path (issue 21, item 8)', async () => {
    const config = await resolveConfig(
      { algorithm: { advantage: { estimator: 'nope' }, lossAggregation: 'nada', kl: { estimator: 'k9' } } },
      { source: 'grpo.config.ts', defaults: [grpo()] },
    );
    const container = await assembleContainer(config);
    const error = await container.getAsync(Algorithm).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.path)).toEqual(['algorithm.kl.estimator', 'algorithm.advantage.estimator', 'algorithm.lossAggregation']);
    expect((error as Error).message).toContain("No advantage estimator named 'nope' is registered. Available: grpo,");
    expect((error as Error).message).toContain("No loss aggregation named 'nada' is registered.");
    expect((error as Error).message).toContain("No KL estimator named 'k9' is registered.");
  });

  it('with the KL estimator known, an unknown objective is reported beside the others', async () => {
    const config = await resolveConfig(
      { algorithm: { objective: { name: 'nope' }, lossAggregation: 'nada' } },
      { source: 'grpo.config.ts', defaults: [grpo()] },
    );
    const error = await (await assembleContainer(config)).getAsync(Algorithm).catch((e: unknown) => e);
    expect((error as ConfigError).issues.map((i) => i.path)).toEqual(['algorithm.lossAggregation', 'algorithm.objective.name']);
  });
});
