/**
 * The reward worker: takes scoring jobs from the run's queue and runs the configured reward
 * functions on them, exactly as the trainer would in process (`runRewards`: validation, timeouts,
 * the fault policy). BullMQ holds a lock on each job while it runs; when this process dies the
 * lock runs out (`workers.lockMs`) and another worker takes the job.
 */
import { hostname } from 'node:os';
import { errorMessage, RewardError, runRewards, type RewardFunction, type RewardInput } from '@grpo/core';
import { Worker, type Job } from 'bullmq';
import { rewardQueueName, type WorkersConfig } from './config.js';
import type { ScoringJob, ScoringOutcome } from './jobs.js';
import { connectRedis, showUrl } from './redis.js';

export interface RewardWorkerOptions {
  url: string;
  workers: WorkersConfig;
  rewards: readonly RewardFunction[];
  /** Jobs this process runs at once (async, I/O-bound rewards overlap). */
  concurrency?: number;
  /** Progress lines (one per job). */
  log?: (line: string) => void;
}

/** A running reward worker; `close` finishes the jobs in hand and disconnects. */
export interface RunningWorker {
  readonly id: string;
  close(): Promise<void>;
}

function inputOf(job: ScoringJob): RewardInput {
  return {
    prompts: job.completions.map(() => job.prompt),
    completions: job.completions.map((c) => c.text),
    completionIds: job.completions.map((c) => c.tokenIds),
    finishReasons: job.completions.map((c) => c.finishReason),
    rows: job.completions.map(() => job.row),
  };
}

/** Scores one job; a reward fault under `raise` comes back as the outcome's `fault` (the step stops; no retry). */
export async function scoreJob(job: ScoringJob, rewards: readonly RewardFunction[], worker: string, signal?: AbortSignal): Promise<ScoringOutcome> {
  const byName = new Map(rewards.map((r) => [r.name, r]));
  const missing = job.rewards.filter((name) => !byName.has(name));
  if (missing.length)
    return {
      kind: 'config',
      worker,
      fault:
        `reward worker ${worker} has no reward function named ${missing.map((m) => `'${m}'`).join(', ')} (it has ${[...byName.keys()].map((m) => `'${m}'`).join(', ') || 'none'}); ` +
        'start the workers with the same config (plugins) as the trainer',
    };
  try {
    const results = await runRewards(
      inputOf(job),
      job.rewards.map((name) => byName.get(name)!),
      { timeoutMs: job.timeoutMs, onError: job.onError, penalty: job.penalty, signal },
    );
    return { results, worker };
  } catch (error) {
    if (error instanceof RewardError) return { kind: 'reward', worker, fault: `${error.message} (step ${job.step}, group ${job.group})` };
    throw error;
  }
}

/** Starts a reward worker on `options.url`; it runs until `close`. */
export async function startRewardWorker(options: RewardWorkerOptions): Promise<RunningWorker> {
  const { workers, url } = options;
  const id = `${hostname()}:${process.pid}`;
  // Fails fast with a clear message when Redis is not there; BullMQ's own connections retry forever.
  const probe = await connectRedis(url, { maxRetriesPerRequest: null });
  const timeout = workers.jobTimeoutMs;
  const worker = new Worker<ScoringJob, ScoringOutcome>(
    rewardQueueName(workers),
    async (job: Job<ScoringJob, ScoringOutcome>) => {
      const started = performance.now();
      const controller = new AbortController();
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const outcome = await Promise.race([
          scoreJob(job.data, options.rewards, id, controller.signal),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`job ${job.id} took longer than workers.jobTimeoutMs (${timeout} ms) on ${id}`)), timeout);
          }),
        ]);
        options.log?.(
          `job ${job.id} (start ${job.attemptsStarted}): ${'fault' in outcome ? `fault: ${outcome.fault}` : 'scored'} in ${Math.round(performance.now() - started)} ms`,
        );
        return outcome;
      } catch (error) {
        options.log?.(`job ${job.id} (start ${job.attemptsStarted}) failed: ${errorMessage(error)}`);
        throw error;
      } finally {
        clearTimeout(timer);
        controller.abort(new Error('the job ended'));
      }
    },
    {
      connection: probe,
      concurrency: options.concurrency ?? 1,
      lockDuration: workers.lockMs,
      stalledInterval: Math.max(100, Math.floor(workers.lockMs / 2)),
      // A job whose worker died goes back to the queue; a job that kills its workers again and again fails.
      maxStalledCount: workers.attempts,
      name: id,
    },
  );
  worker.on('error', (error) => options.log?.(`worker error: ${errorMessage(error)}`));
  await worker.waitUntilReady();
  options.log?.(
    `reward worker ${id} on ${showUrl(url)}, queue ${rewardQueueName(workers)}: rewards ${options.rewards.map((r) => r.name).join(', ')}; concurrency ${options.concurrency ?? 1}`,
  );
  return {
    id,
    close: async () => {
      await worker.close();
      probe.disconnect();
    },
  };
}
