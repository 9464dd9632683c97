/**
 * The trainer's side of reward workers: a `RewardScorer` that puts each group of a step on the
 * run's queue and waits for every result. Job ids are stable (step, round, group, digest), so
 * enqueuing again adds nothing and each group counts once; when Redis loses the jobs (restarted
 * without its data) they are enqueued again; when it is gone longer than
 * `workers.reconnectTimeoutMs`, the step stops with a message.
 */
import { RewardError, type RewardResult, type RewardScorer, type ScoringRequest } from '@grpo/core';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { rewardQueueName, type WorkersConfig } from './config.js';
import { jobId, scoringJobs, type ScoringJob, type ScoringOutcome } from './jobs.js';
import { connectRedis } from './redis.js';
import { runJobs, WorkersError, type Finished } from './wait.js';

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
    const jobs = scoringJobs(request, this.options.run);
    const { signal } = request.options;
    const finished = await runJobs(
      queue,
      jobs.map((data) => ({ id: jobId(data), data })),
      {
        ...this.options,
        step: request.step,
        unit: 'groups',
        role: 'reward',
        signal,
        stopped: () => new RewardError(`the step stopped while groups were with the reward workers`),
        log: this.log,
      },
    );
    return this.merge(request, jobs, finished);
  }

  /** Each reward's results over the groups, in group order; a fault stops the step, a failed job follows the fault policy. */
  private merge(request: ScoringRequest, jobs: readonly ScoringJob[], finished: readonly Finished<ScoringOutcome>[]): RewardResult[] {
    const { options } = request;
    const merged: RewardResult[] = request.functions.map(() => ({ scores: [], errors: 0 }));
    jobs.forEach((job, i) => {
      const end = finished[i]!;
      if ('failed' in end) {
        const what =
          `scoring group ${job.group} of step ${job.step} (first sample: prompt ${preview(job.prompt)}, completion ${preview(job.completions[0]?.text ?? '')}) ` +
          `failed on the reward workers after ${this.options.workers.attempts} tries: ${end.failed}`;
        if (options.onError === 'raise') throw new RewardError(`${what}; raise workers.jobTimeoutMs or workers.attempts, or look at the workers' output`);
        for (const m of merged) {
          m.scores.push(...job.completions.map(() => ({ score: options.penalty })));
          m.errors += job.completions.length;
        }
        return;
      }
      const outcome = end.value;
      if ('fault' in outcome) {
        if (outcome.kind === 'config') throw new WorkersError(outcome.fault);
        throw new RewardError(outcome.fault);
      }
      outcome.results.forEach((r, k) => {
        merged[k]!.scores.push(...r.scores);
        merged[k]!.errors += r.errors;
      });
    });
    return merged;
  }

  async close(): Promise<void> {
    // Disconnected first: closing a queue whose Redis is gone would wait for it.
    this.client?.disconnect();
    await this.queue?.close().catch(() => {});
    this.queue = undefined;
    this.client = undefined;
  }
}
