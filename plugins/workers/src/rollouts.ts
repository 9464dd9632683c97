/**
 * Rollout workers: the trainer's `RolloutEngine` named `workers` (`generation.engine: 'workers'`)
 * puts each generation on the run's rollout queue; a rollout worker (`grpo worker --role rollout`)
 * runs the config's policy on it. The policy's weights are published once per step, by version
 * (`weights.ts`: Redis for small models, `workers.weightsDir` for large ones); a job names the
 * version it asks for, and each result carries the version it was sampled with.
 *
 * Synchronous (`workers.maxStaleness: 0`): a step's rollouts are sampled with the step's own
 * version, so a step samples exactly what the in-process engine samples (same weights, seed, prompts).
 *
 * Asynchronous (`maxStaleness: k > 0`): the trainer announces the next k steps' generations
 * (`plan`); each is put on the queue at once, asking for the version of the step it was announced
 * in, and the workers sample it while the trainer scores and updates. The schedule depends on no
 * timing: step s + k is asked with version s, so after the first k steps every step trains on
 * rollouts k versions old, whichever worker samples them and whenever. Rollouts older than k
 * versions (a worker that cannot see the version asked) are dropped, counted
 * (`async/stale_dropped`) and asked again with the current version. The workers' log-probs go
 * through the off-policy correction (`generation.correction`). Planned results are part of the
 * checkpoint (`saveState`), so a resumed run trains on the rollouts the uninterrupted run would.
 */
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import {
  CheckpointError,
  checkEngineHealth,
  errorMessage,
  GrpoError,
  type Completion,
  type GenerationRequest,
  type PlannedGeneration,
  type Policy,
  type RolloutEngine,
  type SamplingOptions,
  policyEngine,
  syncEngineWeights,
} from '@grpo/core';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { rolloutQueueName, type WorkersConfig } from './config.js';
import { connectRedis, showUrl } from './redis.js';
import { runJobs, WorkersError, type Finished } from './wait.js';
import { adapterBaseOf, locateWeights, WeightsPublisher, type LocatedWeights, type Published, type WeightsRef } from './weights.js';

/** One generation: the prompts of a step (or of a refill round), sampled with the named policy version. */
export interface RolloutJob {
  readonly run: string;
  readonly version: number;
  /** Where that version's weights are (`Policy.save` files, or a LoRA policy's adapters alone). */
  readonly weights: WeightsRef;
  /** For an adapter-only version: the whole-model version its adapters go on. */
  readonly base?: Published['base'];
  readonly requests: readonly GenerationRequest[];
  readonly groupSize: number;
  readonly options: SamplingOptions;
}

/** The completions, `[request][g]` (with the worker's per-token log-probs), and the policy version they were sampled with. */
export interface RolloutOutcome {
  readonly version: number;
  readonly completions: Completion[][];
  readonly worker: string;
}

export interface RedisRolloutEngineOptions {
  url: string;
  workers: WorkersConfig;
  /** Where versions are published: `<weightsDir>/v<N>/` (and Redis for small ones). */
  weightsDir: string;
  run: string;
  /** The trainer's policy: version 0 is published from it on the first generation. */
  policy: Policy;
  log?: (line: string) => void;
}

/** A generation on the queue: its job and the version it asked for. */
interface Submitted {
  readonly id: string;
  readonly version: number;
  readonly result: Promise<Finished<RolloutOutcome>>;
}

/** A planned generation, submitted or (until the current step's own job is on the queue) not yet. */
interface Planned {
  readonly step: number;
  readonly generation: PlannedGeneration;
  submitted?: Submitted;
}

/** What a checkpoint keeps of the engine: the version counter and the planned generations' results. */
interface EngineState {
  readonly version: number;
  readonly planned: readonly {
    readonly key: string;
    readonly step: number;
    readonly id: string;
    readonly version: number;
    readonly end: Finished<RolloutOutcome>;
  }[];
}

const STATE_FILE = 'rollouts.json';

/** A generation's identity: its requests, group size and sampling options (the seed included). */
const generationKey = (requests: readonly GenerationRequest[], groupSize: number, options: SamplingOptions) =>
  createHash('sha256').update(JSON.stringify({ requests, groupSize, options })).digest('hex').slice(0, 24);

export class RedisRolloutEngine implements RolloutEngine {
  readonly name = 'workers';
  private client?: Redis;
  private queue?: Queue<RolloutJob, RolloutOutcome>;
  /** The version published last; -1 before the first. */
  private version = -1;
  private readonly refs = new Map<number, Published>();
  private readonly publisher: WeightsPublisher;
  private readonly planned = new Map<string, Planned>();
  private readonly staleness: number[] = [];
  private dropped = 0;
  private stop = new AbortController();
  private readonly log: (line: string) => void;

  constructor(private readonly options: RedisRolloutEngineOptions) {
    this.log = options.log ?? ((line) => void process.stderr.write(`grpo workers: ${line}\n`));
    this.publisher = new WeightsPublisher({
      weightsDir: options.weightsDir,
      maxRedisBytes: options.workers.redisWeightsMaxBytes,
      prefix: `grpo:${options.workers.queue}:${options.run}:weights:v`,
      // Every version a queued job may still ask for, and the one before it.
      keep: options.workers.maxStaleness + 2,
    });
  }

  private get maxStaleness(): number {
    return this.options.workers.maxStaleness;
  }

  /**
   * Synchronous workers on the `policy` engine run the trainer's own sampler (the same policy
   * code) on the exact version the trainer published, so their log-probs are the trainer's: no
   * off-policy correction unless `generation.correction.enabled: 'on'`. Asynchronous ones sample
   * with older weights, and other engines (`workers.rolloutEngine`) with other numerics: corrected.
   */
  get trainerSampler(): boolean {
    return this.maxStaleness === 0 && this.options.workers.rolloutEngine === 'policy';
  }

  /** Steps sampled ahead: `workers.maxStaleness`. */
  get lookahead(): number {
    return this.maxStaleness;
  }

  /** The policy version the next generation is sampled with. */
  get policyVersion(): number {
    return this.version;
  }

  /** Where the policy's weights of `version` are published in the directory. */
  weightsDir(version: number): string {
    return this.publisher.dir(version);
  }

  private async open(): Promise<{ queue: Queue<RolloutJob, RolloutOutcome>; client: Redis }> {
    if (this.queue && this.client) return { queue: this.queue, client: this.client };
    const client = await connectRedis(this.options.url, { maxRetriesPerRequest: 1 });
    this.client = client;
    this.queue = new Queue<RolloutJob, RolloutOutcome>(rolloutQueueName(this.options.workers), { connection: client });
    this.queue.on('error', () => {});
    this.stop = new AbortController();
    return { queue: this.queue, client };
  }

  private async publish(policy: Policy): Promise<void> {
    const { client } = await this.open();
    const next = this.version + 1;
    this.refs.set(next, await this.publisher.publish(policy, next, client));
    this.refs.delete(next - this.maxStaleness - 2);
    this.version = next;
  }

  /** Puts one generation on the queue, asking for the current version; its result is awaited later. */
  private async submit(requests: readonly GenerationRequest[], groupSize: number, options: SamplingOptions, tag: string): Promise<Submitted> {
    const { queue } = await this.open();
    const version = this.version;
    const { ref, base } = this.refs.get(version)!;
    const data: RolloutJob = { run: this.options.run, version, weights: ref, ...(base ? { base } : {}), requests, groupSize, options };
    // The run in the id: runs never share results; within a run, the same generation asked with the same version is the same job.
    const id = `${tag}-${createHash('sha256')
      .update(`${this.options.run}:${generationKey(requests, groupSize, options)}`)
      .digest('hex')
      .slice(0, 24)}`;
    const result = runJobs(queue, [{ id, data }], {
      ...this.options,
      step: version,
      unit: 'prompt batches',
      role: 'rollout',
      signal: this.stop.signal,
      stopped: () => new WorkersError('the run stopped while a prompt batch was with the rollout workers'),
      log: this.log,
    }).then(([end = { failed: 'no result' }]) => end);
    // A planned job whose step never comes (the run stopped) must not be an unhandled rejection.
    result.catch(() => {});
    return { id, version, result };
  }

  /** Submits the planned generations not yet on the queue, in step order. */
  private async submitPlanned(): Promise<void> {
    for (const p of this.planned.values()) {
      if (p.submitted) continue;
      const { requests, groupSize, options, step } = p.generation;
      p.submitted = await this.submit(requests, groupSize, options, `p${step}-v${this.version}`);
    }
  }

  async plan(generations: readonly PlannedGeneration[]): Promise<void> {
    const first = generations[0]?.step;
    // Plans of steps already past were never asked for (a refill changed the rows): forgotten.
    if (first !== undefined) for (const [key, p] of this.planned) if (p.step < first - 1) this.planned.delete(key);
    for (const generation of generations) {
      const key = generationKey(generation.requests, generation.groupSize, generation.options);
      if (!this.planned.has(key)) this.planned.set(key, { step: generation.step, generation });
    }
  }

  async generate(requests: readonly GenerationRequest[], groupSize: number, options: SamplingOptions): Promise<Completion[][]> {
    try {
      if (this.version < 0) await this.publish(this.options.policy);
      const key = generationKey(requests, groupSize, options);
      const planned = this.planned.get(key);
      this.planned.delete(key);
      let job = planned?.submitted ?? (await this.submit(requests, groupSize, options, `v${this.version}`));
      // This step's own job first on the queue, then the steps ahead.
      await this.submitPlanned();
      for (let resubmitted = 0; ; resubmitted++) {
        const end = await job.result;
        if ('failed' in end)
          throw new WorkersError(
            `sampling ${requests.length} prompts with policy version ${job.version} failed on the rollout workers after ${this.options.workers.attempts} tries: ${end.failed}`,
          );
        const outcome = end.value;
        const staleness = this.version - outcome.version;
        if (staleness <= this.maxStaleness) {
          for (const _ of requests) this.staleness.push(staleness);
          return outcome.completions;
        }
        this.dropped += requests.length;
        const why =
          `rollout worker ${outcome.worker} sampled ${requests.length} prompts with policy version ${outcome.version} (asked: ${job.version}), ` +
          `${staleness} versions behind ${this.version}, over workers.maxStaleness ${this.maxStaleness}`;
        if (resubmitted + 1 >= this.options.workers.attempts)
          throw new WorkersError(
            `${why}, ${resubmitted + 1} times in a row: does that worker see the weights the trainer publishes (workers.weightsDir, or --weights-dir where it is mounted elsewhere)?`,
          );
        this.log(`${why}: dropped, asked again with version ${this.version}`);
        job = await this.submit(requests, groupSize, options, `v${this.version}-d${resubmitted + 1}`);
      }
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /** Per step: how old the trained-on rollouts were (policy versions) and how many were dropped; none in a synchronous run that dropped nothing. */
  stepMetrics(): Record<string, number> {
    const figures: Record<string, number> = {};
    if (this.maxStaleness > 0 || this.dropped > 0) {
      const n = this.staleness.length;
      figures['async/staleness/mean'] = n ? this.staleness.reduce((a, b) => a + b, 0) / n : 0;
      figures['async/staleness/max'] = n ? Math.max(...this.staleness) : 0;
      figures['async/stale_dropped'] = this.dropped;
    }
    this.staleness.length = 0;
    this.dropped = 0;
    return figures;
  }

  /** After each update: the new weights as the next version. */
  async syncWeights(policy: Policy): Promise<void> {
    await this.publish(policy);
  }

  /** For a checkpoint: the version counter and the planned generations, waited for (they are the next steps' rollouts). */
  async saveState(dir: string): Promise<void> {
    await this.submitPlanned();
    const planned: EngineState['planned'][number][] = [];
    for (const [key, p] of this.planned) {
      const end = await p.submitted!.result;
      // A failed one is asked again when its step comes.
      if (!('failed' in end)) planned.push({ key, step: p.step, id: p.submitted!.id, version: p.submitted!.version, end });
    }
    const state: EngineState = { version: this.version, planned };
    await writeFile(path.join(dir, STATE_FILE), JSON.stringify(state));
  }

  async loadState(dir: string): Promise<void> {
    const file = path.join(dir, STATE_FILE);
    let state: EngineState;
    try {
      state = JSON.parse(await readFile(file, 'utf8')) as EngineState;
    } catch (error) {
      throw new CheckpointError(`cannot read the rollout workers' state ${file}: ${errorMessage(error)}; resume from an intact checkpoint`);
    }
    this.version = state.version;
    this.planned.clear();
    for (const p of state.planned) {
      const generation = { step: p.step } as PlannedGeneration;
      this.planned.set(p.key, { step: p.step, generation, submitted: { id: p.id, version: p.version, result: Promise.resolve(p.end) } });
    }
  }

  async close(): Promise<void> {
    this.stop.abort();
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
  /**
   * What samples (`workers.rolloutEngine`); the policy's own sampler when absent. An engine with
   * `syncWeights` gets the policy after each version is loaded, under `syncTimeoutSeconds`.
   */
  engine?: RolloutEngine;
  /** `generation.syncTimeoutSeconds`: the longest an engine's weight sync may take (default 600). */
  syncTimeoutSeconds?: number;
  /** The trainer's `workers.weightsDir` as mounted on this machine, when elsewhere. */
  weightsDir?: string;
  log?: (line: string) => void;
}

/** Starts a rollout worker: one job at a time (the policy holds one version). */
export async function startRolloutWorker(options: RolloutWorkerOptions): Promise<{ readonly id: string; close(): Promise<void> }> {
  const { workers, url, policy } = options;
  const engine = options.engine ?? policyEngine(policy);
  await checkEngineHealth(engine);
  /** The publication the engine was last given (an engine with `syncWeights` is given each version the policy loads). */
  let engineHolds: string | undefined;
  const id = `${hostname()}:${process.pid}`;
  const probe = await connectRedis(url, { maxRetriesPerRequest: null });
  // Weights are read on a connection of their own: the worker's blocks while it waits for jobs.
  const weightsClient = await connectRedis(url, { maxRetriesPerRequest: null });
  const cacheDir = path.join(tmpdir(), `grpo-rollout-worker-${process.pid}`);
  let loaded: LocatedWeights | undefined;
  /** The publication of the whole-model version the policy holds (adapter-only versions go on it). */
  let loadedBase: string | undefined;
  const where = { client: weightsClient, cacheDir, weightsDir: options.weightsDir };
  /** Loads a version: a whole model, or adapters alone onto the base they were trained on (loaded first when not held). */
  const load = async (located: LocatedWeights, job: RolloutJob) => {
    const baseOf = await adapterBaseOf(located.dir);
    if (baseOf === undefined) {
      await policy.load(located.dir);
      loadedBase = located.publication;
      return;
    }
    if (!policy.loadAdapter)
      throw new GrpoError(
        `policy version ${located.version} holds only LoRA adapters, and this worker's policy trains none: start the worker with the trainer's config (its policy.lora)`,
      );
    if (loadedBase !== baseOf) {
      const base = job.base && (await locateWeights(job.base.ref, job.base.version, where));
      if (!base || base.publication !== baseOf)
        throw new GrpoError(
          `the whole-model version that policy version ${located.version}'s adapters go on (publication ${baseOf}) is not where this worker looks: give it the trainer's workers.weightsDir or Redis`,
        );
      await policy.load(base.dir);
      loadedBase = baseOf;
    }
    await policy.loadAdapter(located.dir);
  };
  const worker = new Worker<RolloutJob, RolloutOutcome>(
    rolloutQueueName(workers),
    async (job: Job<RolloutJob, RolloutOutcome>) => {
      const { version, weights, requests, groupSize, options: sampling } = job.data;
      const started = performance.now();
      try {
        const located = await locateWeights(weights, version, where);
        if (located.version !== version)
          options.log?.(
            `job ${job.id}: policy version ${version} is not where this worker looks; sampling with version ${located.version}, the newest it sees`,
          );
        if (loaded?.publication !== located.publication) {
          await load(located, job.data);
          // Only what came from Redis is this worker's to remove.
          if (loaded?.dir.startsWith(cacheDir) && loaded.dir !== located.dir) await rm(loaded.dir, { recursive: true, force: true });
          loaded = located;
        }
        if (engine.syncWeights && engineHolds !== located.publication) {
          await syncEngineWeights(engine, policy, options.syncTimeoutSeconds ?? 600);
          engineHolds = located.publication;
        }
        const completions = await engine.generate(requests, groupSize, sampling);
        options.log?.(
          `job ${job.id} (start ${job.attemptsStarted}): ${requests.length} prompts × ${groupSize} with version ${located.version} in ${Math.round(performance.now() - started)} ms on ${engine.name}`,
        );
        return { version: located.version, completions, worker: id };
      } catch (error) {
        loaded = undefined;
        loadedBase = undefined;
        engineHolds = undefined;
        options.log?.(`job ${job.id} (start ${job.attemptsStarted}) failed: ${errorMessage(error)}`);
        if (error instanceof GrpoError) throw new Error(`${error.message} (on rollout worker ${id})`);
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
  options.log?.(`rollout worker ${id} on ${showUrl(url)}, queue ${rolloutQueueName(workers)}, engine ${engine.name}`);
  return {
    id,
    close: async () => {
      await worker.close();
      await engine.close?.();
      probe.disconnect();
      weightsClient.disconnect();
      await rm(cacheDir, { recursive: true, force: true });
    },
  };
}
