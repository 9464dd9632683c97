/**
 * Putting jobs on a queue and waiting for all of them, the same way for scoring and rollout jobs:
 * each job's state is polled; a job Redis lost (restarted without its data) is added again under
 * the same id; while Redis is away the wait goes on up to `workers.reconnectTimeoutMs`, then stops
 * with a message; with jobs waiting and none finishing, it says when no worker is connected and
 * stops after `workers.idleTimeoutMs`.
 */
import { errorMessage, GrpoError } from '@grpo/core';
import type { Job, Queue } from 'bullmq';
import type { WorkersConfig } from './config.js';
import { RedisUnavailableError, showUrl } from './redis.js';

/** Reward or rollout workers did not deliver: no worker, or none finishing. */
export class WorkersError extends GrpoError {}

const POLL_MS = 20;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface WaitOptions {
  url: string;
  workers: WorkersConfig;
  /** For messages: `step 3`, and what a job is (`groups`, `prompt batches`) and who runs it (`reward`, `rollout`). */
  step: number;
  unit: string;
  role: 'reward' | 'rollout';
  signal?: AbortSignal;
  /** Thrown when `signal` fires. */
  stopped: () => Error;
  log: (line: string) => void;
}

/** A job's end: its return value, or why its last try failed. */
export type Finished<R> = { value: R } | { failed: string };

/** Adds the jobs (ids are stable, so adding again adds nothing) and waits until each has completed or failed for good. */
export async function runJobs<D, R>(queue: Queue<D, R>, jobs: readonly { id: string; data: D }[], options: WaitOptions): Promise<Finished<R>[]> {
  const { workers, url, step, unit, role, log } = options;
  const opts = (id: string) => ({
    jobId: id,
    attempts: workers.attempts,
    backoff: { type: 'exponential' as const, delay: workers.backoffMs },
    // Kept a while so that work enqueued again finds its results; then Redis forgets them.
    removeOnComplete: { age: 3600 },
    removeOnFail: { age: 24 * 3600 },
  });
  const done = new Map<number, Finished<R>>();
  let downSince: number | undefined;
  let lastProgress = performance.now();
  let warned = false;
  let added = false;
  while (done.size < jobs.length) {
    if (options.signal?.aborted) throw options.stopped();
    try {
      if (!added) {
        await queue.addBulk(jobs.map((j) => ({ name: role, data: j.data, opts: opts(j.id) })) as never);
        added = true;
      }
      for (const [i, { id, data }] of jobs.entries()) {
        if (done.has(i)) continue;
        const state = await queue.getJobState(id);
        if (state === 'unknown') {
          // Redis lost it (restarted without its data): the same id again.
          await queue.add(role as never, data as never, opts(id));
          continue;
        }
        if (state !== 'completed' && state !== 'failed') continue;
        // Read after the state, so a job seen finished carries its result.
        const job = (await queue.getJob(id)) as Pick<Job<D, R>, 'returnvalue' | 'failedReason'> | undefined;
        if (!job) continue;
        done.set(i, state === 'completed' ? { value: job.returnvalue } : { failed: job.failedReason || 'failed' });
        lastProgress = performance.now();
      }
      if (downSince !== undefined) {
        log(`Redis at ${showUrl(url)} is back after ${((performance.now() - downSince) / 1000).toFixed(1)} s; step ${step} goes on`);
        downSince = undefined;
      }
    } catch (error) {
      if (error instanceof GrpoError) throw error;
      const now = performance.now();
      if (downSince === undefined) {
        downSince = now;
        log(`lost Redis at ${showUrl(url)} during step ${step} (${errorMessage(error)}); waiting up to ${workers.reconnectTimeoutMs / 1000} s for it`);
      }
      if (now - downSince > workers.reconnectTimeoutMs)
        throw new RedisUnavailableError(
          `lost Redis at ${showUrl(url)} during step ${step} and it did not come back within workers.reconnectTimeoutMs ` +
            `(${workers.reconnectTimeoutMs} ms; ${done.size} of ${jobs.length} ${unit} were done): ${errorMessage(error).replace(/\.$/, '')}. ` +
            'Restart Redis, then continue the run from its last checkpoint with `grpo train --resume`',
        );
      lastProgress = now;
    }
    if (done.size < jobs.length) {
      const idle = performance.now() - lastProgress;
      const start = `\`grpo worker --role ${role} --config <this config>\``;
      if (!warned && idle > 5000 && downSince === undefined) {
        warned = true;
        if ((await queue.getWorkersCount().catch(() => -1)) === 0)
          log(`no ${role} worker is connected to queue ${queue.name} at ${showUrl(url)}: start one with ${start}`);
      }
      if (idle > workers.idleTimeoutMs) {
        const count = await queue.getWorkersCount().catch(() => -1);
        throw new WorkersError(
          `no job finished for ${Math.round(idle / 1000)} s (workers.idleTimeoutMs) in step ${step}: ${jobs.length - done.size} of ${jobs.length} ${unit} wait on queue ${queue.name} at ${showUrl(url)}` +
            (count === 0 ? ` and no ${role} worker is connected; start some with ${start}` : `, with ${count} workers connected`),
        );
      }
      await sleep(POLL_MS);
    }
  }
  return jobs.map((_, i) => done.get(i)!);
}
