import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Rollout } from '../records.js';
import { scoreRollouts, type RewardRunOptions } from './score.js';
import { workerReward } from './worker-reward.js';

const completion = (text: string) => ({ tokenIds: [1], text, logprobs: [-1], finishReason: 'eos' as const });
const rollouts: Rollout[] = [
  { row: { prompt: 'p', answer: '4' }, prompt: 'p', promptIds: [1], completions: [completion('4'), completion('5')] },
  { row: { prompt: 'q', answer: '6' }, prompt: 'q', promptIds: [1], completions: [completion('6'), completion('x')] },
];
const options: RewardRunOptions = { weights: {}, timeoutMs: 5_000, onError: 'raise', penalty: -1 };

let dir: string;
let rewards: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'grpo-worker-reward-'));
  rewards = path.join(dir, 'rewards.mjs');
  await writeFile(
    rewards,
    `
export const exact = { name: 'exact', score: ({ completions, rows }) => completions.map((c, i) => (c === rows[i].answer ? 1 : 0)) };
export const spin = { name: 'spin', score: () => { for (;;) {} } };
export const throwsNull = { name: 'nullish', score: () => { throw null; } };
export function scaled({ factor }) {
  return { name: 'scaled', score: ({ completions }) => completions.map((c) => c.length * factor) };
}
`,
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('workerReward (issue 21, item 2)', () => {
  it('scores in a worker thread, from an object export or a factory with options', async () => {
    const exact = workerReward({ name: 'exact', module: rewards, export: 'exact' });
    const scaled = workerReward({ name: 'scaled', module: rewards, export: 'scaled', options: { factor: 2 } });
    const { groups } = await scoreRollouts(rollouts, [exact, scaled], options);
    expect(groups.map((g) => g.rewardsByFunction.exact)).toEqual([
      [1, 0],
      [1, 0],
    ]);
    expect(groups.map((g) => g.rewardsByFunction.scaled)).toEqual([
      [2, 2],
      [2, 2],
    ]);
    await Promise.all([exact.close(), scaled.close()]);
  });

  it('enforces the timeout on synchronous code that never returns, and recovers for the next call', async () => {
    const spin = workerReward({ name: 'spin', module: rewards, export: 'spin' });
    const started = performance.now();
    await expect(scoreRollouts(rollouts, [spin], { ...options, timeoutMs: 300 })).rejects.toThrow(/Reward 'spin' timed out after 300 ms/);
    const penalised = await scoreRollouts(rollouts, [spin], { ...options, timeoutMs: 300, onError: 'penalty' });
    expect(penalised.metrics['rewards/spin/errors']).toBe(4);
    expect(performance.now() - started).toBeLessThan(5_000);
    await spin.close();
  });

  it('reports what the worker threw, and a missing export or module', async () => {
    const nullish = workerReward({ name: 'nullish', module: rewards, export: 'throwsNull' });
    await expect(scoreRollouts(rollouts, [nullish], options)).rejects.toThrow(
      /Reward 'nullish' threw on sample 0 .*null \(a thrown value that is not an Error\)/,
    );
    await nullish.close();
    const missing = workerReward({ name: 'missing', module: rewards, export: 'nope' });
    await expect(scoreRollouts(rollouts, [missing], options)).rejects.toThrow(/has no export "nope"/);
    await missing.close();
    const noModule = workerReward({ name: 'gone', module: path.join(dir, 'gone.mjs') });
    await expect(scoreRollouts(rollouts, [noModule], options)).rejects.toThrow(/Reward 'gone' threw/);
    await noModule.close();
  });

  it('runs @grpo/plugin-math-reward in a worker under tsx, and the process ends on its own after a worker timed out', () => {
    const root = path.resolve(import.meta.dirname, '../../../..');
    const script = `
      import { scoreRollouts, workerReward } from '@grpo/core';
      const completion = (text) => ({ tokenIds: [1], text, logprobs: [-1], finishReason: 'eos' });
      const rollouts = [{ row: { prompt: 'p', answer: '4' }, prompt: 'p', promptIds: [1], completions: [completion('so \\\\boxed{4}'), completion('#### 5')] }];
      const accuracy = workerReward({ name: 'accuracy', module: '@grpo/plugin-math-reward', export: 'accuracyReward' });
      const { groups } = await scoreRollouts(rollouts, [accuracy], { weights: {}, timeoutMs: 90000, onError: 'raise', penalty: 0 });
      console.log(JSON.stringify(groups[0].rewards));
      const spin = workerReward({ name: 'spin', module: ${JSON.stringify(rewards)}, export: 'spin' });
      const { metrics } = await scoreRollouts(rollouts, [spin], { weights: {}, timeoutMs: 500, onError: 'penalty', penalty: 0 });
      console.log(metrics['rewards/spin/errors']);
      // Neither worker is closed: the script must end on its own all the same.
    `;
    const started = performance.now();
    const child = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      encoding: 'utf8',
      // Generous: the first call boots a worker that loads tsx and the grader (slow on a busy machine).
      timeout: 180_000,
    });
    expect(child.stderr).toBe('');
    expect(child.stdout.trim().split('\n')).toEqual(['[1,0]', '2']);
    expect(child.status).toBe(0);
    expect(performance.now() - started).toBeLessThan(50_000);
  }, 70_000);
});
