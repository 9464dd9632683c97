/**
 * What the CLI integration tests on Hugging Face model directories share: `grpo` run in process
 * with its output captured, a test directory inside the repository (so that a JSON config's plugin
 * names resolve to the workspace packages), and a tiny Qwen2-style model over the math task's
 * characters.
 */
import { mkdir, mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MATH_TASK_CHARS } from '@grpo/plugin-math-task';
import { main } from '../../packages/cli/src/index.js';
import { charTokenizerJson, randomHfWeights, templateWithBos, writeHfModel } from '../../plugins/transformer/test/hf-fixtures.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** `grpo <argv>` in this process: its exit code and what it printed. */
export async function runCli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

/** A fresh directory under node_modules/.cache/grpo-tests (inside the repository). */
export async function repoTempDir(prefix: string): Promise<string> {
  const base = path.resolve(repoRoot, 'node_modules/.cache/grpo-tests');
  await mkdir(base, { recursive: true });
  return mkdtemp(path.join(base, prefix));
}

/** config.json of a one-layer Qwen2 model whose vocabulary is the math task's characters plus specials. */
export const MATH_HF_CONFIG = {
  architectures: ['Qwen2ForCausalLM'],
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  vocab_size: 4 + MATH_TASK_CHARS.length + 3,
  max_position_embeddings: 128,
  tie_word_embeddings: true,
  eos_token_id: 2,
};

/** Writes `MATH_HF_CONFIG` with seeded BF16 weights and a character tokenizer to `dir`. */
export async function writeMathHfModel(dir: string): Promise<void> {
  await writeHfModel(dir, MATH_HF_CONFIG, randomHfWeights(MATH_HF_CONFIG, 5, 'BF16', 0.1), {
    dtype: 'BF16',
    files: {
      'tokenizer.json': JSON.stringify(charTokenizerJson(templateWithBos(), MATH_TASK_CHARS)),
      'tokenizer_config.json': JSON.stringify({ eos_token: '</s>', pad_token: '<pad>' }),
    },
  });
}
