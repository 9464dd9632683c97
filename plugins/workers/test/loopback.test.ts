/**
 * Trainer and reward workers as separate processes on a real Redis (loopback): the metrics of a
 * run scored on workers equal the in-process run's; a worker killed with kill -9 mid-job loses
 * nothing (another worker takes the job) and nothing counts twice; Redis restarted mid-step (its
 * data lost) makes the trainer wait and enqueue again; Redis gone for good stops the trainer with
 * a message.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RedisServer } from './redis-server.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const bin = path.join(root, 'packages/cli/src/bin.ts');
const config = path.join(here, 'fixtures/tiny.config.ts');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function grpo(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', bin, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => text, exited };
}

async function until(what: string, test: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** metrics.jsonl without what depends on the clock. */
function metrics(dir: string): Record<string, number>[] {
  return readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, number>)
    .map((m) => Object.fromEntries(Object.entries(m).filter(([k]) => k !== 'step_time' && k !== 'tokens_per_sec' && !k.startsWith('timing/'))));
}

const logLines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);

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

  it('samples on a rollout worker with the weights published per step by version: the same metrics as in process', async () => {
    const run = train('rollout-worker', { ROLLOUTS: '1' });
    expect(await run.exited, run.output()).toBe(0);
    expect(metrics(path.join(tmp, 'rollout-worker'))).toEqual(reference);
    // One generation per step, each with the version published after the step before.
    const versions = [...rolloutWorker.output().matchAll(/: 4 prompts × 4 with version (\d+) in/g)].map((m) => Number(m[1]));
    expect(versions).toEqual([0, 1, 2]);
  }, 120_000);

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
