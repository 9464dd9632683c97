/**
 * Trainer and reward workers as separate processes on a real Redis (loopback): the metrics of a
 * run scored on workers equal the in-process run's, also with its rollouts sampled on a rollout
 * worker (weights through Redis, or a directory); a worker killed with kill -9 mid-job loses
 * nothing (another worker takes the job) and nothing counts twice; Redis restarted mid-step (its
 * data lost) makes the trainer wait and enqueue again; Redis gone for good stops the trainer with
 * a message.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grpo, logLines, metrics, tinyConfig as config, until, type Proc } from './processes.js';
import { startRedis, type RedisServer } from './redis-server.js';

describe('trainer and reward workers as processes on a real Redis', () => {
  let redis: RedisServer;
  let tmp: string;
  let reference: Record<string, number>[];
  const workers: Proc[] = [];
  let rolloutWorker: Proc;
  let env: Record<string, string>;
  const trainers: Proc[] = [];
  const train = (name: string, extra: Record<string, string> = {}) => {
    const run = grpo(['train', '--config', config, '-o', path.join(tmp, name), '--no-eval'], { ...env, WORKERS: '1', ...extra });
    trainers.push(run);
    return run;
  };
  const startWorker = () => {
    const w = grpo(['worker', '--role', 'reward', '--config', config], env);
    workers.push(w);
    return w;
  };

  beforeAll(async () => {
    redis = await startRedis();
    tmp = mkdtempSync(path.join(tmpdir(), 'grpo-workers-'));
    env = { GRPO_REDIS_URL: redis.url, REWARD_LOG: path.join(tmp, 'rewards.log'), REWARD_DELAY_MS: '150' };
    // The in-process run (no delay: it changes no number) while two workers start.
    const inProcess = grpo(['train', '--config', config, '-o', path.join(tmp, 'in-process'), '--no-eval'], { GRPO_REDIS_URL: redis.url });
    const started = [startWorker(), startWorker()];
    rolloutWorker = grpo(['worker', '--role', 'rollout', '--config', config], env);
    started.push(rolloutWorker);
    expect(await inProcess.exited, inProcess.output()).toBe(0);
    reference = metrics(path.join(tmp, 'in-process'));
    await Promise.all(started.map((w) => until('a worker', () => /(reward|rollout) worker /.test(w.output()))));
  }, 180_000);

  afterAll(async () => {
    for (const p of [...workers, ...trainers, rolloutWorker]) if (p && p.child.exitCode === null) p.child.kill('SIGKILL');
    await redis?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('gives the metrics of the in-process run, every group scored by one of two workers', async () => {
    const run = train('two-workers');
    expect(await run.exited, run.output()).toBe(0);
    expect(metrics(path.join(tmp, 'two-workers'))).toEqual(reference);
    expect(reference).toHaveLength(3);
    // 3 steps × 4 groups: one job each, spread over both workers.
    const jobs = workers.flatMap((w) => w.output().match(/job s\d+-r0-g\d+-\w+ \(start 1\): scored/g) ?? []);
    expect(jobs).toHaveLength(12);
    for (const w of workers) expect(w.output()).toMatch(/: scored in/);
  }, 120_000);

  const weightKeys = async () => {
    const client = new Redis(redis.url);
    try {
      return (await client.keys('grpo:grpo:*:weights:v*')).sort();
    } finally {
      client.disconnect();
    }
  };

  it('trainer, 2 reward workers and 1 rollout worker, weights through Redis: the metrics of the in-process run', async () => {
    const before = await weightKeys();
    const run = train('rollout-worker', { ROLLOUTS: '1' });
    expect(await run.exited, run.output()).toBe(0);
    expect(metrics(path.join(tmp, 'rollout-worker'))).toEqual(reference);
    // One generation per step, each with the version published after the step before.
    const versions = [...rolloutWorker.output().matchAll(/: 4 prompts × 4 with version (\d+) in/g)].map((m) => Number(m[1]));
    expect(versions).toEqual([0, 1, 2]);
    // The tiny model is under workers.redisWeightsMaxBytes: its versions went through Redis (the last two kept).
    const added = (await weightKeys()).filter((k) => !before.includes(k));
    expect(added.map((k) => k.replace(/.*:v/, 'v'))).toEqual(['v1', 'v2']);
  }, 120_000);

  it('publishes the weights in workers.weightsDir only when they are over workers.redisWeightsMaxBytes: the same metrics', async () => {
    const before = rolloutWorker.output().length;
    const keys = await weightKeys();
    const run = train('weights-dir', { ROLLOUTS: '1', WEIGHTS_IN_DIR: '1' });
    expect(await run.exited, run.output()).toBe(0);
    expect(metrics(path.join(tmp, 'weights-dir'))).toEqual(reference);
    const versions = [
      ...rolloutWorker
        .output()
        .slice(before)
        .matchAll(/: 4 prompts × 4 with version (\d+) in/g),
    ].map((m) => Number(m[1]));
    expect(versions).toEqual([0, 1, 2]);
    expect(await weightKeys()).toEqual(keys);
    expect(readdirSync(path.join(tmp, 'weights-dir', 'weights')).sort()).toEqual(['v1', 'v2']);
  }, 120_000);

  it('a LoRA policy: version 0 is the whole model, later ones only its adapters; the metrics of the in-process LoRA run', async () => {
    const lora = { LORA: '1', REWARD_DELAY_MS: '0' };
    const inProcess = grpo(['train', '--config', config, '-o', path.join(tmp, 'lora-in-process'), '--no-eval'], { GRPO_REDIS_URL: redis.url, ...lora });
    expect(await inProcess.exited, inProcess.output()).toBe(0);
    const loraReference = metrics(path.join(tmp, 'lora-in-process'));
    expect(loraReference).not.toEqual(reference);
    // A LoRA worker of its own: the running one holds the full model's policy.
    const loraWorker = grpo(['worker', '--role', 'rollout', '--config', config], { ...env, ...lora, QUEUE: 'grpo-lora' });
    workers.push(loraWorker);
    await until('the LoRA rollout worker', () => /rollout worker /.test(loraWorker.output()));
    for (const [name, extra] of [
      ['lora-dir', { WEIGHTS_IN_DIR: '1' }],
      ['lora-redis', {}],
    ] as const) {
      const run = grpo(['train', '--config', config, '-o', path.join(tmp, name), '--no-eval'], {
        ...env,
        ...lora,
        ...extra,
        ROLLOUTS: '1',
        QUEUE: 'grpo-lora',
      });
      trainers.push(run);
      expect(await run.exited, run.output()).toBe(0);
      expect(metrics(path.join(tmp, name)), name).toEqual(loraReference);
    }
    // The base stays while the run publishes; later versions are the adapters alone, marked with the base they go on.
    const dir = path.join(tmp, 'lora-dir', 'weights');
    expect(readdirSync(dir).sort()).toEqual(['v0', 'v1', 'v2']);
    expect(readdirSync(path.join(dir, 'v0'))).toContain('model.safetensors');
    for (const v of ['v1', 'v2'])
      expect(readdirSync(path.join(dir, v)).sort()).toEqual(['.base', '.publication', 'adapter_config.json', 'adapter_model.safetensors']);
    const client = new Redis(redis.url);
    try {
      const keys = (await client.keys('grpo:grpo-lora:*:weights:v*')).sort();
      expect(keys.map((k) => k.replace(/.*:v/, 'v'))).toEqual(['v0', 'v1', 'v2']);
      expect((await client.hkeys(keys[2]!)).sort()).toEqual(['.base', '.publication', 'adapter_config.json', 'adapter_model.safetensors']);
    } finally {
      client.disconnect();
    }
    // Both runs sampled on the LoRA worker: versions 0, 1, 2 each.
    expect([...loraWorker.output().matchAll(/with version (\d+) in/g)].map((m) => Number(m[1]))).toEqual([0, 1, 2, 0, 1, 2]);
  }, 180_000);

  it('a rollout worker sampling on llama.cpp (workers.rolloutEngine): the run with the llama.cpp engine in the trainer, corrected alike', async () => {
    const llama = { ROLLOUT_ENGINE: 'llama.cpp', REWARD_DELAY_MS: '0', QUEUE: 'grpo-llama' };
    const inProcess = grpo(['train', '--config', config, '-o', path.join(tmp, 'llama-in-process'), '--no-eval'], { GRPO_REDIS_URL: redis.url, ...llama });
    const llamaWorker = grpo(['worker', '--role', 'rollout', '--config', config], { ...env, ...llama });
    workers.push(llamaWorker);
    expect(await inProcess.exited, inProcess.output()).toBe(0);
    const llamaReference = metrics(path.join(tmp, 'llama-in-process'));
    // llama.cpp is not the trainer's sampler: its log-probs go through the correction, in both runs.
    for (const m of llamaReference) {
      expect(Math.abs(m['mismatch/mismatch_kl']!)).toBeLessThan(1e-3);
      expect(m['sampling/importance_sampling_ratio/mean']).toBeCloseTo(1, 2);
    }
    await until('the llama.cpp rollout worker', () => /rollout worker .*engine llama\.cpp/.test(llamaWorker.output()));
    const run = grpo(['train', '--config', config, '-o', path.join(tmp, 'llama-worker'), '--no-eval'], { ...env, ...llama, ROLLOUTS: '1' });
    trainers.push(run);
    expect(await run.exited, run.output()).toBe(0);
    expect(metrics(path.join(tmp, 'llama-worker'))).toEqual(llamaReference);
    expect([...llamaWorker.output().matchAll(/with version (\d+) in \d+ ms on llama\.cpp/g)].map((m) => Number(m[1]))).toEqual([0, 1, 2]);
  }, 180_000);

  it('retries elsewhere the job of a worker killed with kill -9, losing nothing and counting nothing twice', async () => {
    const log = env.REWARD_LOG!;
    const before = logLines(log).length;
    const [victim, survivor] = workers as [Proc, Proc];
    const run = train('kill-9');
    // Kill the first worker while it is inside a reward call.
    await until('a reward call on the first worker', () =>
      logLines(log)
        .slice(before)
        .some((l) => l.startsWith(`${victim.child.pid} start`)),
    );
    victim.child.kill('SIGKILL');
    expect(await run.exited, run.output()).toBe(0);
    expect(metrics(path.join(tmp, 'kill-9'))).toEqual(reference);
    const calls = logLines(log).slice(before);
    const killedMidCall =
      calls.filter((l) => l.startsWith(`${victim.child.pid} start`)).length - calls.filter((l) => l.startsWith(`${victim.child.pid} done`)).length;
    expect(killedMidCall).toBe(1);
    // The survivor took the dead worker's job after its lock ran out (workers.lockMs).
    expect(survivor.output()).toMatch(/job s\d+-r0-g\d+-\w+ \(start 2\): scored/);
  }, 120_000);

  it('waits for Redis restarted mid-step without its data, enqueues again and finishes with the same metrics', async () => {
    const log = env.REWARD_LOG!;
    const before = logLines(log).length;
    const run = train('redis-restart');
    await until('a reward call in step 1', () => logLines(log).slice(before).length >= 6);
    await redis.restart({ downMs: 1000 });
    expect(await run.exited, run.output()).toBe(0);
    expect(run.output()).toMatch(/lost Redis at redis:\/\/127\.0\.0\.1:\d+ during step \d/);
    expect(run.output()).toMatch(/Redis at redis:\/\/127\.0\.0\.1:\d+ is back after/);
    expect(metrics(path.join(tmp, 'redis-restart'))).toEqual(reference);
  }, 120_000);

  it('stops with a message naming Redis when it does not come back', async () => {
    const log = env.REWARD_LOG!;
    const before = logLines(log).length;
    const run = train('redis-gone', { RECONNECT_MS: '1500' });
    await until('a reward call', () => logLines(log).slice(before).length >= 1);
    redis.kill();
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(
      /grpo: lost Redis at redis:\/\/127\.0\.0\.1:\d+ during step \d and it did not come back within workers\.reconnectTimeoutMs \(1500 ms; \d+ of 4 groups were done\).*Restart Redis, then continue the run from its last checkpoint with `grpo train --resume`\n/,
    );
    expect(run.output()).not.toMatch(/\n\s+at |unexpected error/);
  }, 120_000);
});
