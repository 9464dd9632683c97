import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import { MATH_TASK_CHARS } from '@grpo/plugin-math-task';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { createPolicy } from '@grpo/plugin-transformer';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/index.js';

let dir: string;

beforeAll(async () => {
  await setupBackend('wasm');
  // Inside the repo so that the JSON config's plugin names resolve to the workspace packages.
  const base = path.resolve(import.meta.dirname, '../../../node_modules/.cache/grpo-tests');
  await mkdir(base, { recursive: true });
  dir = await mkdtemp(path.join(base, 'cli-eval-'));
  const policy = createPolicy({ model: { dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: 128 }, tokenizer: CharTokenizer.fromChars(MATH_TASK_CHARS), seed: 1 });
  await policy.save(path.join(dir, 'policy'));
  // A run directory with one training checkpoint (its policy/ and trainer.json are what a path is recognised by).
  const step = path.join(dir, 'run/checkpoints/step-000002');
  await policy.save(path.join(step, 'policy'));
  await writeFile(path.join(step, 'trainer.json'), '{}');
  policy.dispose();
  await writeFile(
    path.join(dir, '.grporc.json'),
    JSON.stringify({ plugins: [['math-task', { trainSize: 16, testSize: 6 }]], policy: { checkpoint: 'policy' }, generation: { maxNewTokens: 8 } }),
  );
});

async function run(argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

describe('grpo eval and grpo sample', () => {
  it('eval reports greedy accuracy, maj@k and pass@k on the evaluation set', async () => {
    const { code, out, err } = await run(['eval', '--cwd', dir, '-k', '2', '--limit', '4']);
    // Progress (not a terminal: a plain line per batch of prompts) on stderr.
    expect(err).toBe('eval: 4/4 prompts, 0s\n'.replace('0s', /\d+s/.exec(err)?.[0] ?? '0s'));
    expect(code).toBe(0);
    expect(out).toMatch(/^math-task\/test: 4 prompts\ngreedy accuracy +\d+\.\d%\nmaj@2 +\d+\.\d%\npass@2 +\d+\.\d%\n/);
    const report = JSON.parse(out.trim().split('\n').at(-1)!) as { n: number; k: number; greedyLength: number };
    expect(report).toMatchObject({ n: 4, k: 2 });
    expect(report.greedyLength).toBeGreaterThan(0);
    expect(report.greedyLength).toBeLessThanOrEqual(8);
  });

  it('sample prints n completions per prompt, reproducibly for a seed', async () => {
    const argv = ['sample', '--cwd', dir, '-p', 'ann has 3 pens.\\n', '-p', 'a bus has 2 kids.\\n', '-n', '2', '--seed', '5'];
    const first = await run(argv);
    expect(first.code).toBe(0);
    expect(first.out.match(/^### prompt \d/gm)).toHaveLength(2);
    expect(first.out.match(/^--- sample \d \((eos|stop|length), \d+ tokens\)$/gm)).toHaveLength(4);
    expect((await run(argv)).out).toBe(first.out);
  });

  it("sample's help example is a prompt the shipped policy answers right", async () => {
    const help = (await run(['sample', '--help'])).out;
    const [, checkpoint, prompt] = /\$ grpo sample --checkpoint (\S+) -p "([^"]+)" -t 0$/m.exec(help)!;
    expect(checkpoint).toBe('plugins/math-task/checkpoints/sft');
    const repo = path.resolve(import.meta.dirname, '../../..');
    const { code, out } = await run(['sample', '--cwd', repo, '--checkpoint', path.join(repo, checkpoint!), '-p', prompt!, '-t', '0']);
    expect(code).toBe(0);
    // 26 − 21 + 32, worked step by step.
    expect(prompt).toBe('a bus has 26 kids. 21 get off, 32 get on. how many now?\\n');
    expect(out).toContain('26-21=5\n5+32=37\n#### 37\n');
  });

  it('a wrong checkpoint path names the option and what exists there', async () => {
    const { code, err } = await run(['eval', '--cwd', dir, '--checkpoint', 'nope']);
    expect(code).toBe(1);
    expect(err).toBe(`grpo: --checkpoint nope: no such directory; ${dir} holds: policy/, run/\n`);
    const empty = await run(['eval', '--cwd', dir, '--checkpoint', 'run/checkpoints/step-000001']);
    expect(empty.err).toBe(`grpo: --checkpoint run/checkpoints/step-000001: no such directory; ${path.join(dir, 'run/checkpoints')} holds: step-000002/\n`);
  });

  it('--checkpoint takes a training checkpoint or a run directory (its latest checkpoint) as well as a policy directory', async () => {
    const argv = (checkpoint: string) => ['sample', '--cwd', dir, '--checkpoint', checkpoint, '-p', 'ann has 3 pens.\\n', '-n', '2', '--seed', '5'];
    const direct = await run(argv('policy'));
    expect(direct.code).toBe(0);
    for (const form of ['run', 'run/checkpoints', 'run/checkpoints/step-000002', path.join(dir, 'run')]) {
      const result = await run(argv(form));
      expect(result.err).toBe('');
      expect(result.out).toBe(direct.out);
    }
  });
});
