/**
 * Issue 21, items 1 and 8, through the real `grpo` executable in a child process: a reward that
 * waits on a server that accepts and never answers (the docs' `remoteGrader`) cannot keep the
 * process alive, and an error thrown from a reward's timer is reported readably, first, with a
 * checkpoint saved.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import { MATH_TASK_CHARS } from '@grpo/plugin-math-task';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { createPolicy } from '@grpo/plugin-transformer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = path.resolve(import.meta.dirname, '../src/bin.ts');
let dir: string;
let server: http.Server;
let url: string;

const CONFIG = `
import { definePlugin, RewardFunction } from '@grpo/core';
const env = process.env;

/** docs/plugins.md's remoteGrader; with USE_SIGNAL=0 the old version that ignores the signal. */
function remoteGrader(url) {
  return {
    name: 'remote_grader',
    async score({ prompts, completions, signal }) {
      const response = await fetch(url, { method: 'POST', body: JSON.stringify({ prompts, completions }), signal: env.USE_SIGNAL === '1' ? signal : undefined });
      if (!response.ok) throw new Error('grader answered ' + response.status);
      return await response.json();
    },
  };
}

/** Scores 0, and on its second call throws from a timer (null, or an Error). */
let calls = 0;
const timerThrower = {
  name: 'timer_thrower',
  score: ({ completions }) => {
    if (++calls === 2) setTimeout(() => { throw env.TIMER_THROW === 'null' ? null : new Error('boom from a timer'); }, 0);
    return completions.map(() => 0);
  },
};

const reward = env.GRADER_URL ? remoteGrader(env.GRADER_URL) : timerThrower;
export default {
  plugins: [
    ['math-task', { trainSize: 64, testSize: 0 }],
    definePlugin({ meta: { name: 'test-reward', version: '0.0.0', core: '^0.1.0' }, register: ({ bind }) => void bind(RewardFunction).toConstantValue(reward) })(),
  ],
  policy: { checkpoint: 'policy' },
  outputDir: env.OUT,
  generation: { maxNewTokens: 8 },
  train: { steps: Number(env.STEPS ?? 2), promptsPerStep: 2, groupSize: 2 },
  rewards: { timeoutMs: 1000, onError: env.ON_ERROR ?? 'raise' },
};
`;

beforeAll(async () => {
  await setupBackend('wasm');
  const base = path.resolve(import.meta.dirname, '../../../node_modules/.cache/grpo-tests');
  await mkdir(base, { recursive: true });
  dir = await mkdtemp(path.join(base, 'cli-process-'));
  const policy = createPolicy({ model: { dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: 128 }, tokenizer: CharTokenizer.fromChars(MATH_TASK_CHARS), seed: 1 });
  await policy.save(path.join(dir, 'policy'));
  policy.dispose();
  await writeFile(path.join(dir, 'grpo.config.mjs'), CONFIG);
  // Accepts connections and requests, never answers.
  server = http.createServer(() => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** `grpo train` in a child process, killed after `limitMs`; `seconds` is how long it ran. */
function train(env: Record<string, string>, limitMs = 45_000) {
  return new Promise<{ code: number | null; out: string; err: string; seconds: number; killed: boolean }>((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', BIN, 'train', '--cwd', dir], {
      cwd: dir,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, limitMs);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err, seconds: (performance.now() - started) / 1000, killed });
    });
  });
}

describe('a reward waiting on a server that never answers (item 1)', () => {
  it("raise: the step stops at rewards.timeoutMs and the process exits (the docs' remoteGrader passes the signal)", async () => {
    const result = await train({ GRADER_URL: url, USE_SIGNAL: '1', ON_ERROR: 'raise', OUT: 'run-raise' });
    expect(result.killed).toBe(false);
    expect(result.err).toMatch(/Reward 'remote_grader' timed out after 1000 ms on a batch of 4 samples/);
    // The fetch was aborted: nothing was left pending for the exit guard to end.
    expect(result.err).not.toContain('exiting although work is still pending');
    expect(result.code).toBe(1);
  }, 60_000);

  it('penalty: trains on, and the CLI exits at the end even though the reward ignores its signal', async () => {
    const result = await train({ GRADER_URL: url, USE_SIGNAL: '0', ON_ERROR: 'penalty', OUT: 'run-penalty' });
    expect(result.killed).toBe(false);
    expect(result.out).toMatch(/checkpoint: .*step-000002/);
    expect(result.err).toContain('exiting although work is still pending');
    expect(result.code).toBe(0);
  }, 60_000);
});

describe('errors thrown from a timer (item 8)', () => {
  it.each([
    [
      'null',
      /^grpo: uncaught exception \(thrown outside the code that awaited it, e\.g\. from a reward's timer\): null \(a thrown value that is not an Error\)$/m,
    ],
    ['error', /^grpo: uncaught exception \(thrown outside the code that awaited it, e\.g\. from a reward's timer\): boom from a timer$/m],
  ])(
    'throw %s: the message comes first and readable, the run stops after the step with a checkpoint, exit 1',
    async (kind, first) => {
      const result = await train({ TIMER_THROW: kind, OUT: `run-timer-${kind}`, STEPS: '20' });
      expect(result.killed).toBe(false);
      expect(result.err).toMatch(first);
      // Before it only the progress lines; no minified backend source anywhere.
      const before = result.err.slice(0, result.err.indexOf('grpo: uncaught exception'));
      expect(before.split('\n').filter((line) => line && !/^step \d+\/20 /.test(line))).toEqual([]);
      expect(result.err.length).toBeLessThan(4000);
      expect(result.out).toMatch(/checkpoint: .*step-00000[23]/);
      expect(result.out).toMatch(/stopped at step [23]; continue with --resume/);
      expect(result.code).toBe(1);
    },
    60_000,
  );
});
