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
  await writeFile(
    path.join(dir, 'slow.config.ts'),
    [
      "import { definePlugin, RewardFunction, type RewardInput } from '@grpo/core';",
      "import mathTask from '@grpo/plugin-math-task';",
      'const slow = definePlugin({',
      "  meta: { name: 'slow-reward', version: '0.0.0', core: '^0.1.0' },",
      '  register: ({ bind }) =>',
      '    void bind<RewardFunction>(RewardFunction).toConstantValue({',
      "      name: 'slow',",
      '      score: async ({ completions }: RewardInput) => {',
      '        await new Promise((resolve) => setTimeout(resolve, 1500));',
      '        return completions.map(() => 0);',
      '      },',
      '    }),',
      '});',
      'export default {',
      '  plugins: [mathTask({ trainSize: 64, testSize: 0 }), slow()],',
      "  policy: { checkpoint: 'policy' },",
      '  generation: { maxNewTokens: 8 },',
      '  train: { steps: 1000, promptsPerStep: 2, groupSize: 2 },',
      '};',
      '',
    ].join('\n'),
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

  // The run waits 1.5 s for a reward each step with its event loop free, so signals are handled as they come.
  it("two SIGINTs at once (npm forwarding the terminal's) are one key press: the run still stops cleanly", async () => {
    let sent = false;
    const result = await train(['--config', 'slow.config.ts', '--output', 'run2'], (line, child) => {
      if (!sent && /^step 1\//.test(line)) {
        sent = true;
        child.kill('SIGINT');
        child.kill('SIGINT');
      }
    });
    expect(result.code, result.err).toBe(0);
    expect(result.out).toMatch(/stopped at step \d+; continue with --resume/);
  }, 120_000);

  it('a second Ctrl-C exits at once with code 130', async () => {
    let sent = false;
    const result = await train(['--config', 'slow.config.ts', '--output', 'run3'], (line, child) => {
      if (!sent && /^step 1\//.test(line)) {
        sent = true;
        child.kill('SIGINT');
      }
      if (line.startsWith('stopping after this step')) setTimeout(() => child.kill('SIGINT'), 400);
    });
    expect(result.code, result.err).toBe(130);
    expect(result.out).not.toContain('stopped at step');
  }, 120_000);
});
