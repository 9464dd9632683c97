import { CliCommand, definePlugin, GrpoConfig, RewardScorer, TrainerHook, type ResolvedConfig } from '@grpo/core';
import { redisUrl, workersSchema } from './config.js';
import { workerCommand } from './command.js';
import { runTag } from './jobs.js';
import { RedisRewardScorer } from './scorer.js';

export const meta = { name: '@grpo/plugin-workers', version: '0.1.0', core: '^0.1.0' } as const;

/**
 * Scale-out on Redis (BullMQ). Adds `grpo worker` and owns the `workers` config section; with
 * `workers.rewards: true` the trainer's reward stage runs on reward workers (`RewardScorer`), and
 * the connection closes when training ends.
 */
export const workers = definePlugin({
  meta,
  config: { workers: workersSchema },
  register({ bind, config }) {
    bind<CliCommand>(CliCommand).toConstantValue(workerCommand);
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
