/**
 * Rollout workers: the trainer's `RolloutEngine` named `workers` (`generation.engine: 'workers'`)
 * puts each generation on the run's rollout queue; a rollout worker (`grpo worker --role rollout`)
 * runs the config's policy on it. The policy's weights are published once per step, by version, to
 * a directory every worker reads (`workers.weightsDir`); a job names the version it must be sampled
 * with, a worker loads that version before sampling, and each result carries the version it was
 * sampled with. Synchronous: the engine accepts only the version it asked for, so a step samples
 * exactly what the in-process engine samples (same weights, same seed, same prompts).
 */
import { createHash } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { errorMessage, GrpoError, type Completion, type GenerationRequest, type Policy, type RolloutEngine, type SamplingOptions } from '@grpo/core';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { rolloutQueueName, type WorkersConfig } from './config.js';
import { connectRedis, showUrl } from './redis.js';
import { runJobs, WorkersError } from './wait.js';

/** One generation: the prompts of a step (or of a refill round), sampled with the named policy version. */
export interface RolloutJob {
  readonly run: string;
  readonly version: number;
  /** The directory holding that version's weights (`Policy.save`). */
  readonly weights: string;
  readonly requests: readonly GenerationRequest[];
  readonly groupSize: number;
  readonly options: SamplingOptions;
}

/** The completions, `[request][g]`, and the policy version they were sampled with. */
export interface RolloutOutcome {
  readonly version: number;
  readonly completions: Completion[][];
  readonly worker: string;
}

export interface RedisRolloutEngineOptions {
  url: string;
  workers: WorkersConfig;
  /** Where versions are published: `<weightsDir>/v<N>/`, read by every rollout worker. */
  weightsDir: string;
  run: string;
  /** The trainer's policy: version 0 is published from it on the first generation. */
  policy: Policy;
  log?: (line: string) => void;
}

export class RedisRolloutEngine implements RolloutEngine {
  readonly name = 'workers';
  /**
   * Rollout workers run the trainer's own sampler (the same policy code) on the exact version the
   * trainer published, so their log-probs are the trainer's: the off-policy correction stays off
   * unless `generation.correction.enabled: 'on'` (e.g. workers on another tensor backend).
   */
  readonly trainerSampler = true;
  private client?: Redis;
  private queue?: Queue<RolloutJob, RolloutOutcome>;
  /** The version published last; -1 before the first. */
  private version = -1;
  private generation = 0;
  private readonly log: (line: string) => void;

  constructor(private readonly options: RedisRolloutEngineOptions) {
    this.log = options.log ?? ((line) => void process.stderr.write(`grpo workers: ${line}\n`));
  }

  /** The policy version the next generation is sampled with. */
  get policyVersion(): number {
    return this.version;
  }

  private dir(version: number): string {
    return path.join(this.options.weightsDir, `v${version}`);
  }

  private async publish(policy: Policy): Promise<void> {
    const next = this.version + 1;
    await mkdir(this.options.weightsDir, { recursive: true });
    await policy.save(this.dir(next));
    this.version = next;
    // Two versions back is no longer asked for.
    if (next >= 2) await rm(this.dir(next - 2), { recursive: true, force: true });
  }

  private async open(): Promise<Queue<RolloutJob, RolloutOutcome>> {
    if (this.queue) return this.queue;
    this.client = await connectRedis(this.options.url, { maxRetriesPerRequest: 1 });
    this.queue = new Queue<RolloutJob, RolloutOutcome>(rolloutQueueName(this.options.workers), { connection: this.client });
    this.queue.on('error', () => {});
    return this.queue;
  }

  async generate(requests: readonly GenerationRequest[], groupSize: number, options: SamplingOptions): Promise<Completion[][]> {
    try {
      if (this.version < 0) await this.publish(this.options.policy);
      const queue = await this.open();
      const data: RolloutJob = { run: this.options.run, version: this.version, weights: this.dir(this.version), requests, groupSize, options };
      const digest = createHash('sha256').update(JSON.stringify(data)).digest('hex').slice(0, 16);
      const generation = this.generation++;
      const [end = { failed: 'no result' }] = await runJobs(queue, [{ id: `v${this.version}-n${generation}-${digest}`, data }], {
        ...this.options,
        step: this.version,
        unit: 'prompt batches',
        role: 'rollout',
        stopped: () => new WorkersError('the step stopped while a prompt batch was with the rollout workers'),
        log: this.log,
      });
      if ('failed' in end)
        throw new WorkersError(
          `sampling ${requests.length} prompts with policy version ${this.version} failed on the rollout workers after ${this.options.workers.attempts} tries: ${end.failed}`,
        );
      const outcome = end.value;
      if (outcome.version !== this.version)
        throw new WorkersError(`rollout worker ${outcome.worker} sampled with policy version ${outcome.version}, not ${this.version}`);
      return outcome.completions;
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /** After each update: the new weights as the next version. */
  async syncWeights(policy: Policy): Promise<void> {
    await this.publish(policy);
  }

  async close(): Promise<void> {
    // Disconnected first: closing a queue whose Redis is gone would wait for it.
    this.client?.disconnect();
    await this.queue?.close().catch(() => {});
    this.queue = undefined;
    this.client = undefined;
  }
}

export interface RolloutWorkerOptions {
  url: string;
  workers: WorkersConfig;
  /** The config's policy; each job's version is loaded into it before sampling. */
  policy: Policy;
  log?: (line: string) => void;
}

/** Starts a rollout worker: one job at a time (the policy holds one version). */
export async function startRolloutWorker(options: RolloutWorkerOptions): Promise<{ readonly id: string; close(): Promise<void> }> {
  const { workers, url, policy } = options;
  const id = `${hostname()}:${process.pid}`;
  const probe = await connectRedis(url, { maxRetriesPerRequest: null });
  let loaded: { version: number; weights: string } | undefined;
  const worker = new Worker<RolloutJob, RolloutOutcome>(
    rolloutQueueName(workers),
    async (job: Job<RolloutJob, RolloutOutcome>) => {
      const { version, weights, requests, groupSize, options: sampling } = job.data;
      const started = performance.now();
      try {
        if (loaded?.version !== version || loaded.weights !== weights) {
          await policy.load(weights);
          loaded = { version, weights };
        }
        const completions = await policy.generate(
          requests.map((r) => r.text),
          groupSize,
          sampling,
        );
        options.log?.(
          `job ${job.id} (start ${job.attemptsStarted}): ${requests.length} prompts × ${groupSize} with version ${version} in ${Math.round(performance.now() - started)} ms`,
        );
        return { version, completions, worker: id };
      } catch (error) {
        loaded = undefined;
        options.log?.(`job ${job.id} (start ${job.attemptsStarted}) failed: ${errorMessage(error)}`);
        if (error instanceof GrpoError) throw new Error(`${error.message} (on rollout worker ${id}; is workers.weightsDir shared with the trainer?)`);
        throw error;
      }
    },
    {
      connection: probe,
      concurrency: 1,
      lockDuration: workers.rolloutLockMs,
      stalledInterval: Math.max(100, Math.floor(workers.rolloutLockMs / 2)),
      maxStalledCount: workers.attempts,
      name: id,
    },
  );
  worker.on('error', (error) => options.log?.(`worker error: ${errorMessage(error)}`));
  await worker.waitUntilReady();
  options.log?.(`rollout worker ${id} on ${showUrl(url)}, queue ${rolloutQueueName(workers)}`);
  return {
    id,
    close: async () => {
      await worker.close();
      probe.disconnect();
    },
  };
}
