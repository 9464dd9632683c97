/** The `workers` config section, owned by this plugin: where Redis is and how jobs are run, retried and waited for. */
import { field, type Section } from '@grpo/core';
import { z } from 'zod';

const { int } = field;

/** The Redis URL when neither `workers.redis` nor `--redis` gives one. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** The environment variable that gives the Redis URL when the config does not. */
export const REDIS_URL_ENV = 'GRPO_REDIS_URL';

export const workersSchema = z
  .strictObject({
    redis: z
      .string()
      .regex(/^rediss?:\/\//, { error: (issue) => `expected a redis:// or rediss:// URL, got ${field.show(issue.input)}` })
      .optional()
      .describe(`Redis URL (\`redis://[user:password@]host:port[/db]\`, \`rediss://\` for TLS); default: $${REDIS_URL_ENV}, else ${DEFAULT_REDIS_URL}.`),
    queue: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, { error: (issue) => `expected letters, digits, '_', '.' or '-', got ${field.show(issue.input)}` })
      .default('grpo')
      .describe("Name of the run's queues (`<queue>-rewards`); runs that share one Redis need different names."),
    weightsDir: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Where the trainer publishes the policy's weights once per step, by version (`v<N>/`), for rollout workers (`generation.engine: 'workers'`); a directory every worker reads (shared storage across machines) when a version is larger than `workers.redisWeightsMaxBytes`. Default: `<outputDir>/weights`.",
      ),
    maxStaleness: int(0)
      .default(0)
      .describe(
        "Asynchronous training with rollout workers (`generation.engine: 'workers'`): they sample up to this many steps ahead with the weights of the step they were asked in, while the trainer scores and updates; rollouts more than this many policy versions old are dropped and sampled again (`async/stale_dropped`), the rest go through the off-policy correction (`generation.correction`). 0: synchronous, the in-process run exactly.",
      ),
    redisWeightsMaxBytes: int(0)
      .default(64 * 1024 * 1024)
      .describe(
        'Policy versions up to this size (bytes, the saved files together) are published through Redis, larger ones only in `workers.weightsDir`; 0: always the directory.',
      ),
    rolloutEngine: z
      .string()
      .min(1)
      .refine((name) => name !== 'workers', { error: "a rollout worker cannot sample on rollout workers: name the engine it runs ('policy', 'llama.cpp', …)" })
      .default('policy')
      .describe(
        "The rollout engine a rollout worker samples with, by `generation.engine`'s names: `policy` (the policy's own sampler: a synchronous run is the in-process run exactly) or an engine a plugin of the config binds (`llama.cpp`, `openai-http`, …), which gets each version's weights through its own `syncWeights`. Any engine but `policy` puts the off-policy correction on by default.",
      ),
    rewards: z.boolean().default(false).describe('Score training steps on reward workers (`grpo worker --role reward`) instead of in the trainer.'),
    attempts: int(1).default(3).describe('Tries per job: a job that fails (timeout, crash, lost worker) is retried on any worker up to this many times.'),
    backoffMs: int(0).default(1000).describe('Delay before the first retry; doubles with each further retry.'),
    jobTimeoutMs: int(1)
      .default(120_000)
      .describe('Longest a worker may take on one job (a group); over it the try fails and is retried. Each reward call also has rewards.timeoutMs.'),
    lockMs: int(200)
      .default(30_000)
      .describe('How long a worker holds a job without renewing its lock: a worker that dies (kill -9) loses its jobs to the others after this.'),
    rolloutLockMs: int(200)
      .default(120_000)
      .describe(
        "A rollout worker's lock on its job: sampling blocks the worker's thread, so the lock cannot be renewed while it samples; longer than the longest generation.",
      ),
    reconnectTimeoutMs: int(0).default(60_000).describe('How long the trainer waits for Redis to come back when the connection drops, before it stops.'),
    idleTimeoutMs: int(1)
      .default(600_000)
      .describe('How long the trainer waits with jobs queued and none finishing (no worker running?) before it stops with a message.'),
  })
  .prefault({})
  .describe('Scale-out on Redis: reward workers and their queue.');

export type WorkersConfig = z.output<typeof workersSchema>;

declare module '@grpo/core' {
  interface ConfigSections {
    workers: Section<typeof workersSchema>;
  }
}

/** The Redis URL: the command line's, else the config's, else `$GRPO_REDIS_URL`, else the local default. */
export function redisUrl(config: Pick<WorkersConfig, 'redis'>, flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? config.redis ?? (env[REDIS_URL_ENV] || undefined) ?? DEFAULT_REDIS_URL;
}

/** The queue a run's scoring jobs go through. */
export const rewardQueueName = (config: Pick<WorkersConfig, 'queue'>) => `${config.queue}-rewards`;

/** The queue a run's generation jobs go through (`generation.engine: 'workers'`). */
export const rolloutQueueName = (config: Pick<WorkersConfig, 'queue'>) => `${config.queue}-rollouts`;
