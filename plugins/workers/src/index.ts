// @grpo/plugin-workers: scale-out on Redis with BullMQ. Explicit named exports only.
export { workers as default, workers, meta } from './plugin.js';
export { DEFAULT_REDIS_URL, REDIS_URL_ENV, redisUrl, rewardQueueName, workersSchema, type WorkersConfig } from './config.js';
export { connectRedis, RedisUnavailableError, showUrl } from './redis.js';
export { jobId, runTag, scoringJobs, type ScoringJob, type ScoringOutcome } from './jobs.js';
export { scoreJob, startRewardWorker, type RewardWorkerOptions, type RunningWorker } from './reward-worker.js';
export { RedisRewardScorer, WorkersError, type RedisRewardScorerOptions } from './scorer.js';
export { workerCommand } from './command.js';
