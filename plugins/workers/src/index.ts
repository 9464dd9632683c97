// @grpo/plugin-workers: scale-out on Redis with BullMQ. Explicit named exports only.
export { workers as default, workers, meta } from './plugin.js';
export { DEFAULT_REDIS_URL, REDIS_URL_ENV, redisUrl, rewardQueueName, rolloutQueueName, workersSchema, type WorkersConfig } from './config.js';
export { connectRedis, RedisUnavailableError, showUrl } from './redis.js';
export { jobId, runTag, scoringJobs, type ScoringJob, type ScoringOutcome } from './jobs.js';
export { scoreJob, startRewardWorker, type RewardWorkerOptions, type RunningWorker } from './reward-worker.js';
export { RedisRewardScorer, type RedisRewardScorerOptions } from './scorer.js';
export {
  RedisRolloutEngine,
  startRolloutWorker,
  type RedisRolloutEngineOptions,
  type RolloutJob,
  type RolloutOutcome,
  type RolloutWorkerOptions,
} from './rollouts.js';
export { locateWeights, WeightsPublisher, type LocatedWeights, type Published, type PublisherOptions, type WeightsRef } from './weights.js';
export { runJobs, WorkersError, type Finished, type WaitOptions } from './wait.js';
export { workerCommand } from './command.js';
