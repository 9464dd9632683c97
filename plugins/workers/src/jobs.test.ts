import { describe, expect, it } from 'vitest';
import type { Rollout, ScoringRequest } from '@grpo/core';
import { DEFAULT_REDIS_URL, redisUrl, workersSchema } from './config.js';
import { jobId, runTag, scoringJobs } from './jobs.js';

const rollout = (prompt: string, texts: string[]): Rollout => ({
  row: { prompt },
  prompt,
  promptIds: [1],
  completions: texts.map((text) => ({ text, tokenIds: [2, 3], logprobs: [-0.5, -0.25], finishReason: 'eos' as const })),
});
const request = (rollouts: Rollout[], step = 4, round = 0): ScoringRequest => ({
  rollouts,
  functions: [{ name: 'r', score: () => [] }],
  options: { timeoutMs: 1000, onError: 'raise', penalty: 0 },
  step,
  round,
});

describe('scoring jobs', () => {
  it('are one per group, named by step, round, group and a digest of the work and the run', () => {
    const jobs = scoringJobs(request([rollout('p', ['a', 'b']), rollout('q', ['c', 'd'])]), runTag('/runs/a'));
    expect(jobs.map((j) => j.group)).toEqual([0, 1]);
    expect(jobs[1]!.completions.map((c) => c.text)).toEqual(['c', 'd']);
    const [first, second] = jobs.map(jobId);
    expect(first).toMatch(/^s4-r0-g0-[0-9a-f]{16}$/);
    expect(second).toMatch(/^s4-r0-g1-[0-9a-f]{16}$/);
    // The same work of the same run: the same id (enqueued again, it is not added twice).
    expect(jobId(scoringJobs(request([rollout('p', ['a', 'b'])]), runTag('/runs/a'))[0]!)).toBe(first);
    // Another run, other completions, another round: another id.
    expect(jobId(scoringJobs(request([rollout('p', ['a', 'b'])]), runTag('/runs/b'))[0]!)).not.toBe(first);
    expect(jobId(scoringJobs(request([rollout('p', ['a', 'x'])]), runTag('/runs/a'))[0]!)).not.toBe(first);
    expect(jobId(scoringJobs(request([rollout('p', ['a', 'b'])], 4, 1), runTag('/runs/a'))[0]!)).toMatch(/^s4-r1-g0-/);
  });
});

describe('the Redis URL', () => {
  it('is the flag, else the config, else $GRPO_REDIS_URL, else the local default', () => {
    const env = { GRPO_REDIS_URL: 'redis://env:1' };
    expect(redisUrl({ redis: 'redis://config:2' }, 'redis://flag:3', env)).toBe('redis://flag:3');
    expect(redisUrl({ redis: 'redis://config:2' }, undefined, env)).toBe('redis://config:2');
    expect(redisUrl({}, undefined, env)).toBe('redis://env:1');
    expect(redisUrl({}, undefined, {})).toBe(DEFAULT_REDIS_URL);
  });

  it('must be a redis:// or rediss:// URL in the config', () => {
    const parsed = workersSchema.safeParse({ redis: 'http://localhost:6379' });
    expect(parsed.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['redis', 'expected a redis:// or rediss:// URL, got "http://localhost:6379"'],
    ]);
    expect(workersSchema.parse({}).queue).toBe('grpo');
  });
});
