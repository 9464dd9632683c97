/**
 * `grpo train` in process on a tiny project: what a run records (`config.json`), how a resume
 * compares configs, the evaluation before and after (progress, `--no-eval`, the cache of the
 * "before" figures) and the line that says what runs.
 */
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import { MATH_TASK_CHARS } from '@grpo/plugin-math-task';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { createPolicy } from '@grpo/plugin-transformer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/index.js';

let dir: string;
const cacheBefore = process.env.GRPO_CACHE_DIR;

const config = (train: Record<string, unknown> = {}, algorithm: Record<string, unknown> = {}) =>
  JSON.stringify({
    plugins: [['math-task', { trainSize: 32, testSize: 4 }]],
    policy: { checkpoint: 'policy' },
    outputDir: 'run',
    generation: { maxNewTokens: 8 },
    train: { steps: 1, promptsPerStep: 2, groupSize: 2, learningRate: 1e-4, ...train },
    algorithm,
    eval: { k: 2 },
  });

beforeAll(async () => {
  await setupBackend('wasm');
  // Inside the repo so that the JSON config's plugin names resolve to the workspace packages.
  const base = path.resolve(import.meta.dirname, '../../../node_modules/.cache/grpo-tests');
  await mkdir(base, { recursive: true });
  dir = await mkdtemp(path.join(base, 'cli-train-'));
  process.env.GRPO_CACHE_DIR = path.join(dir, 'cache');
  const policy = createPolicy({ model: { dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: 128 }, tokenizer: CharTokenizer.fromChars(MATH_TASK_CHARS), seed: 1 });
  await policy.save(path.join(dir, 'policy'));
  policy.dispose();
  await writeFile(path.join(dir, '.grporc.json'), config());
});

afterAll(() => {
  if (cacheBefore === undefined) delete process.env.GRPO_CACHE_DIR;
  else process.env.GRPO_CACHE_DIR = cacheBefore;
});

async function run(argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

describe('grpo train', () => {
  it('says what runs, records its config, shows evaluation progress and caches the "before" figures', async () => {
    const first = await run(['train', '--cwd', dir]);
    expect(first.code, first.err).toBe(0);
    expect(first.out).toContain(
      'algorithm: estimator grpo, objective clipped-surrogate, loss aggregation seq-mean-token-mean, KL k3 (β 0.04, in the loss); rewards: task_accuracy\n',
    );
    expect(first.err).toMatch(/^eval before: 4\/4 prompts, \d+s$/m);
    expect(first.err).toMatch(/^eval after: 4\/4 prompts, \d+s$/m);
    const before = /^eval before: (.*)$/m.exec(first.out)![1]!;
    expect(before).not.toContain('cached');

    const record = JSON.parse(await readFile(path.join(dir, 'run', 'config.json'), 'utf8')) as { versions: Record<string, string> };
    expect(record).toMatchObject({
      config: { source: path.join(dir, '.grporc.json'), seed: 0, backend: 'native', train: { learningRate: 1e-4 }, algorithm: { kl: { beta: 0.04 } } },
      seed: 0,
      backend: 'native',
      versions: { '@grpo/cli': '0.1.0', '@grpo/core': '0.1.0', '@grpo/plugin-math-task': '0.1.0', '@grpo/plugin-grpo': '0.1.0' },
    });
    expect(Object.keys(record.versions)).toEqual(expect.arrayContaining(['node', '@tensorflow/tfjs-core']));

    // Same checkpoint, same evaluation: the figures come from the cache (an unrelated change, the steps, does not matter).
    const second = await run(['train', '--cwd', dir, '--steps', '2', '-o', 'run-b']);
    expect(second.code, second.err).toBe(0);
    expect(second.out).toContain(`eval before: ${before} (cached: same checkpoint and evaluation; --no-eval-cache recomputes)\n`);
    expect(second.err).not.toContain('eval before: 4/4');
    const metric = async (runDir: string) =>
      (await readFile(path.join(dir, runDir, 'metrics.jsonl'), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, number>)[0];
    expect(await metric('run-b')).toEqual(await metric('run'));

    // --no-eval-cache recomputes; a different starting checkpoint is not the same figures.
    const recomputed = await run(['train', '--cwd', dir, '-o', 'run-c', '--no-eval-cache']);
    expect(recomputed.out).toContain(`eval before: ${before}\n`);
    expect(recomputed.err).toMatch(/^eval before: 4\/4 prompts/m);
    const other = createPolicy({ model: { dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: 128 }, tokenizer: CharTokenizer.fromChars(MATH_TASK_CHARS), seed: 2 });
    await other.save(path.join(dir, 'policy'));
    other.dispose();
    const changed = await run(['train', '--cwd', dir, '-o', 'run-d']);
    expect(changed.out).not.toContain('(cached');
  }, 180_000);

  it('--no-eval skips the evaluation before and after', async () => {
    const { code, out, err } = await run(['train', '--cwd', dir, '-o', 'run-no-eval', '--no-eval']);
    expect(code, err).toBe(0);
    expect(out).not.toContain('eval before');
    expect(out).not.toContain('eval after');
    expect(err).not.toContain('prompts');
    const record = JSON.parse(await readFile(path.join(dir, 'run-no-eval', 'config.json'), 'utf8')) as { config: { eval: unknown } };
    expect(record.config.eval).toMatchObject({ before: false, after: false });
  }, 120_000);

  it('--resume refuses a config that changes training, naming the keys, unless --allow-config-change', async () => {
    const project = await mkdtemp(path.join(dir, 'resume-'));
    await cp(path.join(dir, 'policy'), path.join(project, 'policy'), { recursive: true });
    await writeFile(path.join(project, '.grporc.json'), config({ steps: 1 }));
    expect((await run(['train', '--cwd', project, '--no-eval'])).code).toBe(0);

    // More steps (a constant learning rate) and evaluation settings do not change what a step computes.
    const more = await run(['train', '--cwd', project, '--no-eval', '--resume', '--steps', '2']);
    expect(more.code, more.err).toBe(0);
    expect(more.out).toContain('resumed from step 1');

    // A 100× learning rate and another estimator do.
    await writeFile(path.join(project, '.grporc.json'), config({ steps: 3, learningRate: 1e-2 }, { advantage: { estimator: 'rloo' } }));
    const refused = await run(['train', '--cwd', project, '--no-eval', '--resume']);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain(
      `the config differs from the one this run was trained with (${path.join(project, 'run', 'config.json')}) in 2 keys that change training:`,
    );
    expect(refused.err).toContain('  - train.learningRate: 0.0001 → 0.01\n');
    expect(refused.err).toContain('  - algorithm.advantage.estimator: (absent) → "rloo"\n');
    expect(refused.err).toContain('--allow-config-change');
    expect(refused.err).not.toContain('train.steps');

    const allowed = await run(['train', '--cwd', project, '--no-eval', '--resume', '--allow-config-change']);
    expect(allowed.code, allowed.err).toBe(0);
    expect(allowed.out).toContain(
      'resuming with a changed config (--allow-config-change): train.learningRate: 0.0001 → 0.01; algorithm.advantage.estimator: (absent) → "rloo"',
    );
    expect(allowed.out).toContain('algorithm: estimator rloo,');
    // The run now records the config it continued with.
    const record = JSON.parse(await readFile(path.join(project, 'run', 'config.json'), 'utf8')) as { config: { train: { learningRate: number } } };
    expect(record.config.train.learningRate).toBe(1e-2);
    expect((await run(['train', '--cwd', project, '--no-eval', '--resume', '--seed', '5'])).err).toContain('  - seed: 0 → 5\n');
  }, 180_000);
});
