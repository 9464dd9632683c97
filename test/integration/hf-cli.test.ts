/**
 * Hugging Face model directories through the CLI: `grpo sample --ids … --json` on the real
 * stories260K (../shared/models/stories260k) against llama2.c's greedy tokens; `grpo train`,
 * `eval` and `sample` from `policy.huggingface`; and refusals that exit with the error class's
 * code and no stack trace.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeHfModel } from '../../plugins/transformer/test/hf-fixtures.js';
import { repoRoot, repoTempDir, runCli, writeMathHfModel } from './cli-fixtures.js';

const STORIES = path.resolve(repoRoot, '../shared/models/stories260k');
const goldens = JSON.parse(readFileSync(path.join(STORIES, 'goldens.json'), 'utf8')) as { prompts: { ids: number[]; greedy: number[] }[] };

let dir: string;
/** A directory with no config, so the CLI runs on its defaults. */
let bare: string;

const run = runCli;

beforeAll(async () => {
  await setupBackend('wasm');
  dir = await repoTempDir('hf-cli-');
  bare = await repoTempDir('hf-cli-bare-');
  await writeFile(path.join(bare, 'package.json'), '{"name":"bare","private":true}');
  // A tiny Qwen2-style model with a character tokenizer over the math task's characters.
  await writeMathHfModel(path.join(dir, 'model'));
  await writeFile(
    path.join(dir, '.grporc.json'),
    JSON.stringify({
      plugins: [['math-task', { trainSize: 8, testSize: 2 }]],
      policy: { huggingface: './model' },
      outputDir: 'run',
      generation: { maxNewTokens: 6 },
      train: { steps: 1, promptsPerStep: 2, groupSize: 2, checkpointEvery: 1 },
    }),
  );
});

describe('grpo sample --ids --json on stories260K (Hugging Face layout)', () => {
  it("prints llama2.c's greedy continuation of 1,403,407 (golden greedy tokens 2…49 from BOS)", async () => {
    const { code, out, err } = await run([
      'sample',
      '--cwd',
      bare,
      '--checkpoint',
      STORIES,
      '--ids',
      '1,403,407',
      '--temperature',
      '0',
      '--max-new-tokens',
      '48',
      '--json',
    ]);
    expect(err).toBe('');
    expect(code).toBe(0);
    const parsed = JSON.parse(out) as { completions: { tokenIds: number[]; text: string | null; finishReason: string }[] };
    expect(parsed).toEqual({ completions: [{ tokenIds: goldens.prompts[0]!.greedy.slice(2, 50), text: null, finishReason: 'length' }] });
  });

  it('a text prompt to a model without a tokenizer says to use --ids', async () => {
    const { code, err } = await run(['sample', '--cwd', bare, '--checkpoint', STORIES, '-p', 'Once upon a time']);
    expect(code).toBe(1);
    expect(err).toBe(`grpo: ${STORIES} has no tokenizer.json: this model takes token ids only (e.g. grpo sample --ids 1,2,3)\n`);
  });

  it('bad --ids are a usage error', async () => {
    const { code, err } = await run(['sample', '--cwd', bare, '--checkpoint', STORIES, '--ids', '1,x']);
    expect(code).toBe(2);
    expect(err).toMatch(/expected comma-separated token ids/);
    const outside = await run(['sample', '--cwd', bare, '--checkpoint', STORIES, '--ids', '1,512']);
    expect(outside.code).toBe(1);
    expect(outside.err).toBe('grpo: prompt 0: token id 512 is outside the vocabulary [0, 512)\n');
  });
});

describe('grpo train, eval and sample with policy.huggingface', () => {
  it('trains a step, evaluates and samples; the trained checkpoint samples too', async () => {
    const train = await run(['train', '--cwd', dir]);
    expect(train.err).not.toMatch(/at .*\.ts:\d+/);
    expect(train.code).toBe(0);
    const evaluated = await run(['eval', '--cwd', dir, '--limit', '2']);
    expect(evaluated.code).toBe(0);
    expect(evaluated.out).toMatch(/greedy accuracy/);
    const sampled = await run(['sample', '--cwd', dir, '-p', 'ann has 3 pens.\\n', '--json', '--temperature', '0']);
    expect(sampled.code).toBe(0);
    const [c] = (JSON.parse(sampled.out) as { completions: { tokenIds: number[]; text: string }[] }).completions;
    expect(typeof c!.text).toBe('string');
    const resumed = await run(['train', '--cwd', dir, '--resume', '--steps', '2']);
    // stderr holds the evaluation's progress line (not a TTY: one line when done), nothing else.
    expect(resumed.err.split('\n').filter((l) => l && !/^eval (before|after): \d+\/\d+ prompts/.test(l))).toEqual([]);
    expect(resumed.out).toMatch(/^resumed from step 1\n/);
    const checkpoint = path.join(dir, 'run/checkpoints/step-000001/policy');
    const fromCheckpoint = await run(['sample', '--cwd', bare, '--checkpoint', checkpoint, '--ids', '3,4,5', '--json']);
    expect(fromCheckpoint.code).toBe(0);
  });

  it('policy.huggingface with policy.checkpoint is a config error naming both (exit 2)', async () => {
    const { code, err } = await run(['sample', '--cwd', dir, '--checkpoint', 'model', '-p', 'x']);
    expect(code).toBe(2);
    expect(err).toMatch(/policy\.huggingface: set either policy\.huggingface or policy\.checkpoint, not both/);
    expect(err).not.toMatch(/\n\s+at /);
  });

  it('a broken model directory exits 1 with the file and the problem, no stack trace', async () => {
    const broken = path.join(dir, 'broken');
    await writeHfModel(
      broken,
      {
        architectures: ['Qwen2ForCausalLM'],
        hidden_size: 16,
        intermediate_size: 24,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        vocab_size: 8,
        rope_scaling: { rope_type: 'yarn' },
      },
      new Map(),
    );
    const { code, err } = await run(['sample', '--cwd', bare, '--checkpoint', broken, '--ids', '1']);
    expect(code).toBe(1);
    expect(err).toBe(
      `grpo: ${path.join(broken, 'config.json')}: cannot load this Qwen2ForCausalLM:\n  - rope_scaling.rope_type "yarn" is not supported: it changes the rotary embedding (supported: "default", "llama3")\n`,
    );
  });
});
