/**
 * LoRA through the CLI on a Hugging Face model directory: `grpo train` with `policy.lora`, then
 * `grpo export --format peft` (the adapter alone) and `--format hf` (merged), which the Hugging
 * Face loader reads back with the logits of the trained LoRA policy.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import { loadHfPolicy, loadPolicy } from '@grpo/plugin-transformer';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoTempDir, runCli, writeMathHfModel } from './cli-fixtures.js';

let dir: string;

const run = runCli;

beforeAll(async () => {
  await setupBackend('wasm');
  dir = await repoTempDir('lora-cli-');
  await writeMathHfModel(path.join(dir, 'model'));
  await writeFile(
    path.join(dir, '.grporc.json'),
    JSON.stringify({
      plugins: [['math-task', { trainSize: 8, testSize: 2 }]],
      policy: { huggingface: './model', lora: { r: 2, alpha: 4, targetModules: 'all-linear' } },
      outputDir: 'run',
      generation: { maxNewTokens: 6 },
      train: { steps: 2, promptsPerStep: 2, groupSize: 2, checkpointEvery: 2, learningRate: 0.05 },
    }),
  );
});

describe('grpo train with policy.lora, then grpo export', () => {
  it('trains adapters, exports them in PEFT layout and the merged model in HF layout that loads back with the same logits', async () => {
    const train = await run(['train', '--cwd', dir, '--no-eval']);
    expect(train.err).not.toMatch(/\n\s+at /);
    expect(train.code).toBe(0);
    const checkpoint = path.join(dir, 'run/checkpoints/step-000002/policy');
    expect((await readdir(checkpoint)).sort()).toEqual(expect.arrayContaining(['adapter_config.json', 'adapter_model.safetensors', 'model.safetensors']));

    const peft = await run(['export', '--cwd', dir, 'run', '--format', 'peft', '-o', 'out/adapter']);
    expect(peft.err).toBe('');
    expect(peft.code).toBe(0);
    expect((await readdir(path.join(dir, 'out/adapter'))).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);

    // Rewards on this random model are all 0 (no gradient yet), so give the adapters values as training would.
    const trained = await loadPolicy(checkpoint);
    expect(trained.lora).toMatchObject({ r: 2, alpha: 4 });
    tf.tidy(() => {
      for (const { b } of trained.adapters!.values()) b.assign(tf.randomUniform(b.shape, -0.3, 0.3, 'float32', 7));
    });
    await trained.save(path.join(dir, 'trained'));
    const hf = await run(['export', '--cwd', dir, 'trained', '--format', 'hf', '-o', 'out/hf']);
    expect(hf.code).toBe(0);
    const exported = JSON.parse(await readFile(path.join(dir, 'out/hf/config.json'), 'utf8'));
    expect(exported).toMatchObject({
      architectures: ['Qwen2ForCausalLM'],
      hidden_size: 16,
      num_key_value_heads: 1,
      tie_word_embeddings: true,
      eos_token_id: 2,
    });
    expect((await readdir(path.join(dir, 'out/hf'))).sort()).toEqual([
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);

    const back = await loadHfPolicy(path.join(dir, 'out/hf'));
    const batch = { prompts: [[3, 4, 5]], completions: [[6, 7, 2]] };
    const [a, b] = tf.tidy(() => [trained.tokenLogProbs(batch).logprobs.arraySync()[0]!, back.tokenLogProbs(batch).logprobs.arraySync()[0]!]);
    a!.forEach((x, i) => expect(Math.abs(x - b![i]!)).toBeLessThan(1e-5));
    const base = await loadHfPolicy(path.join(dir, 'model'));
    const c = tf.tidy(() => base.tokenLogProbs(batch).logprobs.arraySync()[0]!);
    expect(c.some((x, i) => Math.abs(x - a![i]!) > 1e-3)).toBe(true);
    base.dispose();
    trained.dispose();
    back.dispose();

    const bf16 = await run(['export', '--cwd', dir, 'run', '--format', 'hf', '--dtype', 'bf16', '-o', 'out/hf-bf16']);
    expect(bf16.code).toBe(0);
    const bare = path.join(dir, 'bare');
    await mkdir(bare);
    await writeFile(path.join(bare, 'package.json'), '{"name":"bare","private":true}');
    const sampled = await run(['sample', '--cwd', bare, '--checkpoint', '../out/hf-bf16', '--ids', '3,4,5', '--json', '--temperature', '0']);
    expect(sampled.err).toBe('');
    expect(sampled.code).toBe(0);
  });

  it('--format must be hf or peft (usage error, exit 2)', async () => {
    const { code, err } = await run(['export', '--cwd', dir, 'run', '--format', 'gguf', '-o', 'out/x']);
    expect(code).toBe(2);
    expect(err).toMatch(/Allowed choices are hf, peft/);
  });
});
