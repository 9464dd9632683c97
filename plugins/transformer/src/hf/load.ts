/**
 * Loading a local Hugging Face model directory as a `TransformerPolicy`: `config.json`
 * (architecture, sizes, special ids), `generation_config.json` (the EOS ids generation stops on),
 * the tokenizer files when present, and the weights from `model.safetensors` or its shards.
 *
 * Weights are held in memory as float32 whatever their dtype on disk (F32, F16 or BF16), so a
 * BF16 model takes twice its file size; each tensor is read, widened and moved into the tensor
 * backend on its own, so loading needs about the model's float32 size plus its largest tensor.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CheckpointError, type Tokenizer } from '@grpo/core';
import { readJsonFile } from '@grpo/core/checkpoint';
import { TransformerPolicy } from '../policy.js';
import { parseHfConfig, tokenIdList } from './config.js';
import { NoTextTokenizer, readHfTokenizer } from './tokenizer.js';
import { readHfWeights } from './weights.js';

export const HF_CONFIG_FILE = 'config.json';
export const HF_GENERATION_CONFIG_FILE = 'generation_config.json';

/** Whether `dir` holds a Hugging Face model: a `config.json` with an `architectures` list (GRPO.ts checkpoints have none). */
export async function isHfModelDir(dir: string): Promise<boolean> {
  try {
    const json = await readJsonFile<{ architectures?: unknown }>(join(dir, HF_CONFIG_FILE));
    return typeof json === 'object' && json !== null && Array.isArray(json.architectures);
  } catch {
    return false;
  }
}

/**
 * Loads a Hugging Face model directory (see the module doc); every problem is a `CheckpointError`
 * naming its file. Without `tokenizer.json` the policy takes token ids only (`NoTextTokenizer`).
 */
export async function loadHfPolicy(dir: string): Promise<TransformerPolicy> {
  const configFile = join(dir, HF_CONFIG_FILE);
  const hf = parseHfConfig(await readJsonFile<unknown>(configFile), configFile);
  const { model } = hf;

  const generationFile = join(dir, HF_GENERATION_CONFIG_FILE);
  const generation = await readJsonFile<Record<string, unknown>>(generationFile).catch((error: unknown) => {
    if (error instanceof CheckpointError && error.message.endsWith('file is missing.')) return undefined;
    throw error;
  });
  let eosIds = hf.eosTokenIds;
  if (generation && generation.eos_token_id !== undefined) {
    const ids = tokenIdList(generation.eos_token_id);
    if (!ids) throw new CheckpointError(`${generationFile}: eos_token_id must be a token id or a list of them, got ${JSON.stringify(generation.eos_token_id)}`);
    eosIds = ids;
  }
  const badEos = eosIds.find((id) => id >= model.vocabSize);
  if (badEos !== undefined) throw new CheckpointError(`${dir}: EOS token id ${badEos} is outside the vocabulary (vocab_size ${model.vocabSize})`);

  const files = await readHfTokenizer(dir);
  let tokenizer: Tokenizer;
  let promptPrefix: number[];
  if (files) ({ tokenizer, promptPrefix } = files);
  else {
    const eos = eosIds[0] ?? 0;
    tokenizer = new NoTextTokenizer(dir, model.vocabSize, hf.bosTokenId ?? eos, eos, hf.padTokenId ?? eos);
    promptPrefix = hf.bosTokenId === undefined ? [] : [hf.bosTokenId];
  }
  if (tokenizer.vocabSize > model.vocabSize)
    throw new CheckpointError(`${configFile}: vocab_size ${model.vocabSize} is smaller than the tokenizer's ${tokenizer.vocabSize} tokens`);

  const weights = await readHfWeights(dir, model);
  try {
    return new TransformerPolicy(model, tokenizer, weights, { promptPrefix, eosIds });
  } finally {
    // The policy's variables share these tensors' data; only the extra references go.
    tf.dispose([...weights.values()]);
  }
}
