/**
 * Issue 21, items 5 and 8: two runs on one output directory — the second is refused, naming the
 * first; a stale lock (its process gone) is taken over; an outputDir that is a file is a clear error.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Algorithm } from '../contracts/algorithm.js';
import { TensorBackend } from '../contracts/backend.js';
import { PromptDataset } from '../contracts/data.js';
import { Policy } from '../contracts/policy.js';
import { RewardFunction } from '../contracts/reward.js';
import { resolveConfig } from '../config/load.js';
import { ArrayPromptDataset } from '../data/jsonl.js';
import { GrpoError } from '../errors.js';
import type { GrpoPlugin } from '../plugin/types.js';
import { FakePolicy } from '../testing/fake-policy.js';
import { LOCK_FILE, lockRunDirectory, RunLockedError } from './lock.js';
import { prepareRun } from './prepare.js';

let dir: string;
let n = 0;
const fresh = () => path.join(dir, `run-${n++}`);

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'grpo-lock-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Everything a run needs, with fakes: the cpu backend, a fake policy, one prompt, a reward and a REINFORCE algorithm. */
const fakes: GrpoPlugin = {
  meta: { name: 'fakes', version: '0.0.0', core: '*' },
  register: ({ bind }) => {
    bind(TensorBackend).toConstantValue({ name: 'cpu', setup: async () => void (await tf.setBackend('cpu')) });
    bind(Policy).toConstantValue(new FakePolicy({ chars: 'pa', complete: () => 'a' }));
    bind(PromptDataset).toConstantValue(new ArrayPromptDataset('p', [{ prompt: 'p' }]));
    bind(RewardFunction).toConstantValue({ name: 'one', score: ({ completions }) => completions.map(() => 1) } satisfies RewardFunction);
    bind(Algorithm).toConstantValue({
      estimator: {
        name: 'zero',
        estimate: ({ groups }) => ({ advantages: groups.flatMap((g) => g.completions.map((c) => c.tokenIds.map(() => 0))), metrics: {} }),
      },
      advantageOptions: { std: 'unbiased', eps: 1e-4, zeroVarianceToZero: true, singleton: 'zero' },
      objective: { name: 'zero', loss: (input) => ({ loss: tf.sum(tf.mul(input.logprobs, 0)) as tf.Scalar, metrics: {} }) },
      aggregation: { name: 'sum', aggregate: (x) => tf.sum(x) as tf.Scalar },
      kl: { placement: 'none', beta: 0 },
    } satisfies Algorithm);
  },
};
const config = (outputDir: string) =>
  resolveConfig({ backend: 'cpu', outputDir, train: { promptsPerStep: 1, groupSize: 2 } }, { source: 'test', defaults: [fakes] });

/** A pid that ran on this host and is gone. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('a lock on the run directory (item 5)', () => {
  it('a second run on the directory is refused while the first holds it, and can start once it is released', async () => {
    const out = fresh();
    const first = await prepareRun(await config(out));
    const second = await prepareRun(await config(out)).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(RunLockedError);
    expect((second as Error).message).toMatch(
      new RegExp(`${out} is already in use by this process \\(pid ${process.pid} on ${hostname()}, grpo train \\(test\\)`),
    );
    first.release();
    expect(existsSync(path.join(out, LOCK_FILE))).toBe(false);
    const third = await prepareRun(await config(out));
    third.release();
    first.trainer.dispose();
    third.trainer.dispose();
  });

  it('refuses a directory another live process holds, naming it', async () => {
    const out = fresh();
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      await lockRunDirectory(out);
      // Hand the lock to the other process, as if it had taken it.
      const file = path.join(out, LOCK_FILE);
      await writeFile(file, JSON.stringify({ pid: other.pid, host: hostname(), started: '2026-12-01T00:00:00.000Z', command: 'grpo train (a.ts)' }));
      const error = await prepareRun(await config(out)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RunLockedError);
      expect((error as Error).message).toBe(
        `${out} is in use by another run (pid ${other.pid} on ${hostname()}, grpo train (a.ts), since 2026-12-01T00:00:00.000Z). Wait for it, stop it, or use another outputDir (-o)`,
      );
    } finally {
      other.kill();
    }
  });

  it('takes over a stale lock (its process is gone) and refuses one of another host or one it cannot read', async () => {
    const out = fresh();
    const file = path.join(out, LOCK_FILE);
    const held = await lockRunDirectory(out);
    held.release();
    await writeFile(file, JSON.stringify({ pid: deadPid(), host: hostname(), started: '2026-12-01T00:00:00.000Z', command: 'grpo train' }));
    const lock = await lockRunDirectory(out, { command: 'grpo train --resume' });
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ pid: process.pid, host: hostname(), command: 'grpo train --resume' });
    lock.release();
    await writeFile(file, JSON.stringify({ pid: 1234, host: 'elsewhere', started: '2026-12-01T00:00:00.000Z', command: 'grpo train' }));
    await expect(lockRunDirectory(out)).rejects.toThrow(`${out} is in use by another run (pid 1234 on elsewhere, grpo train, since 2026-12-01T00:00:00.000Z)`);
    await writeFile(file, '{"pid": 12');
    await expect(lockRunDirectory(out)).rejects.toThrow(`${file}: the lock file of this run directory is unreadable`);
  });

  it('is removed when the process exits without releasing it', () => {
    const out = fresh();
    const script = `import { lockRunDirectory } from ${JSON.stringify(path.resolve(import.meta.dirname, 'lock.ts'))}; await lockRunDirectory(${JSON.stringify(out)}); console.log('locked');`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.stdout.trim()).toBe('locked');
    expect(existsSync(path.join(out, LOCK_FILE))).toBe(false);
  }, 30_000);
});

describe('an outputDir that is a file (item 8)', () => {
  it('is a GrpoError naming it, not a stack trace', async () => {
    const file = path.join(dir, 'not-a-dir');
    await writeFile(file, 'x');
    const error = await prepareRun(await config(file)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GrpoError);
    expect((error as Error).message).toBe(`outputDir ${file} is a file, not a directory; choose another outputDir (-o) or move the file`);
  });
});
