/**
 * Asynchronous training on rollout workers as separate processes, on a real Redis (loopback):
 * the staleness schedule (step s + k asked with version s, whatever the timing), a resumed run
 * that trains on exactly the rollouts of the uninterrupted one, and a worker that samples with a
 * version beyond the bound, whose rollouts are dropped, counted and sampled again.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grpo, metrics, tinyConfig as config, until, type Proc } from './processes.js';
import { startRedis, type RedisServer } from './redis-server.js';

describe('asynchronous training on rollout workers', () => {
  let redis: RedisServer;
  let tmp: string;
  let env: Record<string, string>;
  const procs: Proc[] = [];
  const start = (args: string[], extra: Record<string, string> = {}) => {
    const p = grpo(args, { ...env, ...extra });
    procs.push(p);
    return p;
  };
  const train = (name: string, extra: Record<string, string> = {}, flags: string[] = []) =>
    start(['train', '--config', config, '-o', path.join(tmp, name), '--no-eval', ...flags], extra);
  const rolloutWorker = (extra: Record<string, string> = {}, flags: string[] = []) =>
    start(['worker', '--role', 'rollout', '--config', config, ...flags], { ROLLOUTS: '1', ...extra });
  const ready = (w: Proc) => until('a rollout worker', () => /rollout worker \S+ on/.test(w.output()));

  beforeAll(async () => {
    redis = await startRedis();
    tmp = mkdtempSync(path.join(tmpdir(), 'grpo-async-'));
    env = { GRPO_REDIS_URL: redis.url, ROLLOUTS: '1', MAX_STALENESS: '2', STEPS: '5' };
    const workers = [rolloutWorker(), rolloutWorker()];
    await Promise.all(workers.map(ready));
  }, 120_000);

  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await redis?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  let straight: Record<string, number>[];

  it('samples step s + k with version s on two workers: staleness 0, 1, 2, 2, 2, corrected, none dropped', async () => {
    const run = train('straight');
    expect(await run.exited, run.output()).toBe(0);
    straight = metrics(path.join(tmp, 'straight'));
    expect(straight.map((m) => m['async/staleness/max'])).toEqual([0, 1, 2, 2, 2]);
    expect(straight.map((m) => m['async/staleness/mean'])).toEqual([0, 1, 2, 2, 2]);
    expect(straight.map((m) => m['async/stale_dropped'])).toEqual([0, 0, 0, 0, 0]);
    // The workers' log-probs went through the off-policy correction: equal to the trainer's at
    // version 0 (float noise), apart once the policy moved on.
    expect(straight[0]!['sampling/sampling_logp_difference/max']).toBeLessThan(1e-5);
    for (const m of straight.slice(1)) expect(m['sampling/sampling_logp_difference/max']).toBeGreaterThan(1e-3);
    for (const m of straight) expect(m['sampling/importance_sampling_ratio/max']).toBeLessThanOrEqual(3);
  }, 120_000);

  it('resumes exactly: stopped with rollouts in flight and resumed, the metrics of the uninterrupted run', async () => {
    const first = train('resumed');
    // Ctrl-C once a step is done: the trainer finishes the step in hand, and the checkpoint keeps
    // the rollouts sampled ahead (the workers finish them first).
    await until('step 2', () => /step 2\/5/.test(first.output()));
    first.child.kill('SIGINT');
    expect(await first.exited, first.output()).toBe(0);
    const stoppedAt = Number(/stopped at step (\d+); continue with --resume/.exec(first.output())?.[1]);
    expect(stoppedAt).toBeGreaterThanOrEqual(2);
    expect(stoppedAt).toBeLessThan(5);
    // The checkpoint holds the next steps' rollouts, sampled with the versions of the steps they were asked in.
    const state = JSON.parse(
      readFileSync(
        path.join(tmp, 'resumed', 'checkpoints', `step-${String(stoppedAt).padStart(6, '0')}`, 'components', 'workers%2Frollouts', 'rollouts.json'),
        'utf8',
      ),
    ) as { version: number; planned: { step: number; version: number }[] };
    expect(state.version).toBe(stoppedAt - 1);
    const ahead = [stoppedAt, stoppedAt + 1].filter((s) => s < 5);
    expect(state.planned.map((p) => [p.step, p.version])).toEqual(ahead.map((s) => [s, Math.max(0, s - 2)]));
    const second = train('resumed', {}, ['--resume']);
    expect(await second.exited, second.output()).toBe(0);
    expect(second.output()).toContain(`resumed from step ${stoppedAt}`);
    expect(metrics(path.join(tmp, 'resumed'))).toEqual(straight);
  }, 120_000);

  it('drops and counts the rollouts of a worker whose weights are beyond the bound, and samples them again', async () => {
    // Its own queue, weights in a directory: the stale worker reads a copy that holds version 0 only.
    // Enough tries that the trainer does not give up (it stops after `attempts` drops in a row)
    // while this test kills the stale worker: that worker answers in milliseconds.
    const extra = { QUEUE: 'stale', WEIGHTS_IN_DIR: '1', MAX_STALENESS: '1', STEPS: '4', ATTEMPTS: '1000' };
    const out = path.join(tmp, 'stale-run');
    const staleDir = path.join(tmp, 'stale-weights');
    const run = train('stale-run', extra);
    // Version 0 is published before the first job is queued.
    const client = new Redis(redis.url);
    await until('the first rollout job', async () => (await client.llen('bull:stale-rollouts:wait')) > 0);
    client.disconnect();
    cpSync(path.join(out, 'weights', 'v0'), path.join(staleDir, 'v0'), { recursive: true });
    const stale = rolloutWorker(extra, ['--weights-dir', staleDir]);
    await until('a dropped batch', () => / dropped, asked again with version /.test(run.output()), 90_000);
    // A worker that sees the trainer's weights takes over.
    stale.child.kill('SIGTERM');
    rolloutWorker(extra);
    expect(await run.exited, run.output()).toBe(0);
    expect(stale.output()).toMatch(/policy version 1 is not where this worker looks; sampling with version 0, the newest it sees/);
    const drops = [
      ...run.output().matchAll(/sampled 4 prompts with policy version 0 \(asked: \d\), (\d) versions behind \d, over workers\.maxStaleness 1: dropped/g),
    ];
    expect(drops.length).toBeGreaterThanOrEqual(1);
    for (const d of drops) expect(Number(d[1])).toBeGreaterThan(1);
    const m = metrics(out);
    // Steps 0 and 1 used version 0 within the bound; the drops are counted in prompts, in the steps they happened.
    expect(m.slice(0, 2).map((x) => x['async/stale_dropped'])).toEqual([0, 0]);
    expect(m.reduce((a, x) => a + x['async/stale_dropped']!, 0)).toBe(4 * drops.length);
    for (const x of m) expect(x['async/staleness/max']).toBeLessThanOrEqual(1);
  }, 150_000);
});
