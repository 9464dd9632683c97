/**
 * The trainer's side of reward workers: a `RewardScorer` that puts each group of a step on the
 * run's queue and waits for every result. Job ids are stable (step, round, group, digest), so
 * enqueuing again adds nothing and each group counts once; when Redis loses the jobs (restarted
 * without its data) they are enqueued again; when it is gone longer than
 * `workers.reconnectTimeoutMs`, the step stops with a message.
 */
import { errorMessage, GrpoError, RewardError, type RewardResult, type RewardScorer, type ScoringRequest } from '@grpo/core';
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { rewardQueueName, type WorkersConfig } from './config.js';
import { jobId, scoringJobs, type ScoringJob, type ScoringOutcome } from './jobs.js';
import { connectRedis, RedisUnavailableError, showUrl } from './redis.js';

/** Reward workers did not deliver: no worker, or none finishing. */
export class WorkersError extends GrpoError {}

const POLL_MS = 20;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const preview = (text: string, n = 60) => JSON.stringify(text.length > n ? `${text.slice(0, n)}…` : text);

export interface RedisRewardScorerOptions {
  url: string;
  workers: WorkersConfig;
  /** The run's tag (`runTag(outputDir)`): a run resumed in the same directory finds its jobs, other runs do not. */
  run?: string;
  /** Status lines (waiting for workers, Redis lost and back); default: stderr. */
  log?: (line: string) => void;
}

export class RedisRewardScorer implements RewardScorer {
  readonly name = 'workers';
  private client?: Redis;
  private queue?: Queue<ScoringJob, ScoringOutcome>;
  private readonly log: (line: string) => void;

  constructor(private readonly options: RedisRewardScorerOptions) {
    this.log = options.log ?? ((line) => void process.stderr.write(`grpo workers: ${line}\n`));
  }

  private async open(): Promise<Queue<ScoringJob, ScoringOutcome>> {
    if (this.queue) return this.queue;
    // Commands fail fast while Redis is away (one reconnection try), so the wait loop sees the outage.
    this.client = await connectRedis(this.options.url, { maxRetriesPerRequest: 1 });
    this.queue = new Queue<ScoringJob, ScoringOutcome>(rewardQueueName(this.options.workers), { connection: this.client });
    this.queue.on('error', () => {});
    return this.queue;
  }

  async score(request: ScoringRequest): Promise<RewardResult[]> {
    try {
      return await this.scoreOnWorkers(request);
    } catch (error) {
      // The step stops: leave no connection keeping the process alive (a next call connects again).
      await this.close();
      throw error;
    }
  }

  private async scoreOnWorkers(request: ScoringRequest): Promise<RewardResult[]> {
    const queue = await this.open();
    const { workers, url } = this.options;
    const jobs = scoringJobs(request, this.options.run);
    const ids = jobs.map(jobId);
    const opts = (i: number) => ({
      jobId: ids[i],
      attempts: workers.attempts,
      backoff: { type: 'exponential' as const, delay: workers.backoffMs },
      // Kept a while so that a step enqueued again finds its results; then Redis forgets them.
      removeOnComplete: { age: 3600 },
      removeOnFail: { age: 24 * 3600 },
    });
    const add = (i: number) => queue.add('score', jobs[i]!, opts(i));
    const outcomes = new Map<number, ScoringOutcome | { failed: string }>();
    let downSince: number | undefined;
    let lastProgress = performance.now();
    let warned = false;
    let added = false;
    const { signal } = request.options;
    while (outcomes.size < jobs.length) {
      if (signal?.aborted) throw new RewardError(`the step stopped while ${jobs.length - outcomes.size} groups were with the reward workers`);
      try {
        if (!added) {
          await queue.addBulk(jobs.map((data, i) => ({ name: 'score', data, opts: opts(i) })));
          added = true;
        }
        for (let i = 0; i < jobs.length; i++) {
          if (outcomes.has(i)) continue;
          const state = await queue.getJobState(ids[i]!);
          if (state === 'unknown') {
            // Redis lost it (restarted without its data): the same id again.
            await add(i);
            continue;
          }
          if (state !== 'completed' && state !== 'failed') continue;
          // Read after the state, so a job seen finished carries its result.
          const job: Job<ScoringJob, ScoringOutcome> | undefined = await queue.getJob(ids[i]!);
          if (!job) continue;
          outcomes.set(i, state === 'completed' ? job.returnvalue : { failed: job.failedReason || 'failed' });
          lastProgress = performance.now();
        }
        if (downSince !== undefined) {
          this.log(`Redis at ${showUrl(url)} is back after ${((performance.now() - downSince) / 1000).toFixed(1)} s; step ${request.step} goes on`);
          downSince = undefined;
        }
      } catch (error) {
        if (error instanceof GrpoError) throw error;
        const now = performance.now();
        if (downSince === undefined) {
          downSince = now;
          this.log(
            `lost Redis at ${showUrl(url)} during step ${request.step} (${errorMessage(error)}); waiting up to ${workers.reconnectTimeoutMs / 1000} s for it`,
          );
        }
        if (now - downSince > workers.reconnectTimeoutMs)
          throw new RedisUnavailableError(
            `lost Redis at ${showUrl(url)} during step ${request.step} and it did not come back within workers.reconnectTimeoutMs ` +
              `(${workers.reconnectTimeoutMs} ms; ${outcomes.size} of ${jobs.length} groups were scored): ${errorMessage(error).replace(/\.$/, '')}. ` +
              'Restart Redis, then continue the run from its last checkpoint with `grpo train --resume`',
          );
        lastProgress = now;
      }
      if (outcomes.size < jobs.length) {
        const idle = performance.now() - lastProgress;
        if (!warned && idle > 5000 && downSince === undefined) {
          warned = true;
          const count = await queue.getWorkersCount().catch(() => -1);
          if (count === 0)
            this.log(
              `no reward worker is connected to queue ${queue.name} at ${showUrl(url)}: start one with \`grpo worker --role reward --config <this config>\``,
            );
        }
        if (idle > workers.idleTimeoutMs) {
          const count = await queue.getWorkersCount().catch(() => -1);
          throw new WorkersError(
            `no scoring job finished for ${Math.round(idle / 1000)} s (workers.idleTimeoutMs) in step ${request.step}: ${jobs.length - outcomes.size} of ${jobs.length} groups wait on queue ${queue.name} at ${showUrl(url)}` +
              (count === 0
                ? ' and no reward worker is connected; start some with `grpo worker --role reward --config <this config>`'
                : `, with ${count} workers connected`),
          );
        }
        await sleep(POLL_MS);
      }
    }
    return this.merge(request, jobs, outcomes);
  }

  /** Each reward's results over the groups, in group order; a fault stops the step, a failed job follows the fault policy. */
  private merge(request: ScoringRequest, jobs: readonly ScoringJob[], outcomes: Map<number, ScoringOutcome | { failed: string }>): RewardResult[] {
    const { options } = request;
    const merged: RewardResult[] = request.functions.map(() => ({ scores: [], errors: 0 }));
    jobs.forEach((job, i) => {
      const outcome = outcomes.get(i)!;
      if ('fault' in outcome) {
        if (outcome.kind === 'config') throw new WorkersError(outcome.fault);
        throw new RewardError(outcome.fault);
      }
      if ('failed' in outcome) {
        const what =
          `scoring group ${job.group} of step ${job.step} (first sample: prompt ${preview(job.prompt)}, completion ${preview(job.completions[0]?.text ?? '')}) ` +
          `failed on the reward workers after ${this.options.workers.attempts} tries: ${outcome.failed}`;
        if (options.onError === 'raise') throw new RewardError(`${what}; raise workers.jobTimeoutMs or workers.attempts, or look at the workers' output`);
        for (const m of merged) {
          m.scores.push(...job.completions.map(() => ({ score: options.penalty })));
          m.errors += job.completions.length;
        }
        return;
      }
      outcome.results.forEach((r, k) => {
        merged[k]!.scores.push(...r.scores);
        merged[k]!.errors += r.errors;
      });
    });
    return merged;
  }

  async close(): Promise<void> {
    await this.queue?.close().catch(() => {});
    this.client?.disconnect();
    this.queue = undefined;
    this.client = undefined;
  }
}
