import path from 'node:path';
import { CliCommand, configPath, definePlugin, GrpoConfig, Policy, RewardScorer, RolloutEngine, TrainerHook, type ResolvedConfig } from '@grpo/core';
import { redisUrl, workersSchema } from './config.js';
import { workerCommand } from './command.js';
import { runTag } from './jobs.js';
import { RedisRolloutEngine } from './rollouts.js';
import { RedisRewardScorer } from './scorer.js';

export const meta = { name: '@grpo/plugin-workers', version: '0.1.0', core: '^0.1.0' } as const;

/**
 * Scale-out on Redis (BullMQ). Adds `grpo worker` and owns the `workers` config section; with
 * `workers.rewards: true` the trainer's reward stage runs on reward workers (`RewardScorer`); the
 * rollout engine named `workers` (`generation.engine: 'workers'`) samples on rollout workers.
 * Connections close when training ends.
 */
export const workers = definePlugin({
  meta,
  config: { workers: workersSchema },
  register({ bind, config }) {
    bind<CliCommand>(CliCommand).toConstantValue(workerCommand);
    // Used only when generation.engine is 'workers'; connects on its first generation.
    const Engine = Symbol('workers/engine');
    bind<RedisRolloutEngine>(Engine)
      .toDynamicValue(async (ctx) => {
        const cfg = ctx.get<ResolvedConfig>(GrpoConfig);
        return new RedisRolloutEngine({
          url: redisUrl(cfg.workers),
          workers: cfg.workers,
          weightsDir: configPath(cfg, cfg.workers.weightsDir ?? path.join(cfg.outputDir, 'weights')),
          run: runTag(cfg.outputDir),
          policy: await ctx.getAsync<Policy>(Policy),
        });
      })
      .inSingletonScope();
    bind<RolloutEngine>(RolloutEngine).toDynamicValue((ctx) => ctx.getAsync<RedisRolloutEngine>(Engine));
    if (config.generation.engine === 'workers')
      // The checkpoint keeps the engine's version counter and the rollouts sampled ahead (asynchronous training).
      bind<TrainerHook>(TrainerHook).toDynamicValue(async (ctx) => {
        const engine = await ctx.getAsync<RedisRolloutEngine>(Engine);
        return {
          name: 'workers/rollouts',
          onTrainEnd: () => engine.close(),
          saveState: (dir) => engine.saveState(dir),
          loadState: (dir) => engine.loadState(dir),
        };
      });
    if (!config.workers.rewards) return;
    const Scorer = Symbol('workers/scorer');
    bind<RedisRewardScorer>(Scorer)
      .toDynamicValue((ctx) => {
        const cfg = ctx.get<ResolvedConfig>(GrpoConfig);
        return new RedisRewardScorer({ url: redisUrl(cfg.workers), workers: cfg.workers, run: runTag(cfg.outputDir) });
      })
      .inSingletonScope();
    bind<RewardScorer>(RewardScorer).toDynamicValue((ctx) => ctx.get<RedisRewardScorer>(Scorer));
    bind<TrainerHook>(TrainerHook).toDynamicValue((ctx) => {
      const scorer = ctx.get<RedisRewardScorer>(Scorer);
      return { name: 'workers/close', onTrainEnd: () => scorer.close() };
    });
  },
});
