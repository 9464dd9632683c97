import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import { MATH_TASK_CHARS } from '@grpo/plugin-math-task';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { createPolicy } from '@grpo/plugin-transformer';
import { beforeAll, describe, expect, it } from 'vitest';

const BIN = path.resolve(import.meta.dirname, '../src/bin.ts');
let dir: string;

beforeAll(async () => {
  await setupBackend('wasm');
  const base = path.resolve(import.meta.dirname, '../../../node_modules/.cache/grpo-tests');
  await mkdir(base, { recursive: true });
  dir = await mkdtemp(path.join(base, 'cli-sigint-'));
  const policy = createPolicy({ model: { dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: 128 }, tokenizer: CharTokenizer.fromChars(MATH_TASK_CHARS), seed: 1 });
  await policy.save(path.join(dir, 'policy'));
  policy.dispose();
  await writeFile(
    path.join(dir, '.grporc.json'),
    JSON.stringify({
      plugins: [['math-task', { trainSize: 64, testSize: 0 }]],
      policy: { checkpoint: 'policy' },
      outputDir: 'run',
      generation: { maxNewTokens: 8 },
      train: { steps: 1000, promptsPerStep: 2, groupSize: 2 },
    }),
  );
});

/** Runs `grpo train` in a child process; `onLine` sees stderr lines and may signal the child. */
function train(extra: string[], onLine: (line: string, child: ReturnType<typeof spawn>) => void) {
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', BIN, 'train', '--cwd', dir, ...extra], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      err += text;
      for (const line of text.split('\n')) if (line) onLine(line, child);
    });
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

describe('grpo train and Ctrl-C', () => {
  it('the first Ctrl-C saves a checkpoint after the step and exits cleanly; --resume continues', async () => {
    let sent = false;
    const first = await train([], (line, child) => {
      if (!sent && /^step 2\//.test(line)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    expect(first.err).toContain('stopping after this step and saving a checkpoint');
    expect(first.code).toBe(0);
    const stoppedAt = Number(/stopped at step (\d+); continue with --resume/.exec(first.out)?.[1]);
    expect(stoppedAt).toBeGreaterThanOrEqual(2);
    expect(await readdir(path.join(dir, 'run', 'checkpoints'))).toContain(`step-${String(stoppedAt).padStart(6, '0')}`);

    let resumedSent = false;
    const second = await train(['--resume'], (line, child) => {
      if (!resumedSent && line.startsWith(`step ${stoppedAt + 1}/`)) {
        resumedSent = true;
        child.kill('SIGINT');
      }
    });
    expect(second.out).toContain(`resumed from step ${stoppedAt}`);
    expect(second.code).toBe(0);
  }, 120_000);

  it('a second Ctrl-C exits at once with code 130', async () => {
    let signals = 0;
    const result = await train(['--output', 'run2'], (line, child) => {
      if (/^step 1\//.test(line) && signals === 0) {
        signals++;
        child.kill('SIGINT');
        setTimeout(() => child.kill('SIGINT'), 50);
      }
    });
    expect(result.code).toBe(130);
  }, 120_000);
});
