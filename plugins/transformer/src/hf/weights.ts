/**
 * Hugging Face weight names ↔ this plugin's (`weightShapes`), and reading them from
 * `model.safetensors` or the shards of `model.safetensors.index.json`.
 *
 * Hugging Face stores a linear layer as `[out, in]` (`y = x·Wᵀ`); this model multiplies
 * `x · W` with `W` `[in, out]`, so projections are transposed on load. Both use the rotate-half
 * rotary embedding on the same q/k layout, so q/k need no permutation (a llama2.c or Meta
 * checkpoint needs one, which its conversion to Hugging Face already applied).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CheckpointError } from '@grpo/core';
import { readJsonFile } from '@grpo/core/checkpoint';
import type { TransformerConfig } from '../config.js';
import { weightShapes } from '../model.js';
import { SafetensorsReader } from './safetensors.js';

export const HF_WEIGHTS_FILE = 'model.safetensors';
export const HF_INDEX_FILE = 'model.safetensors.index.json';

/** One weight: its Hugging Face name, ours, and whether it is stored transposed (`[out, in]`). */
export interface HfWeightName {
  hf: string;
  name: string;
  transpose: boolean;
  /** Our shape; the Hugging Face shape is its reverse when `transpose`. */
  shape: number[];
}

const LAYER_NAMES: Record<string, [string, boolean]> = {
  'attn_norm.weight': ['input_layernorm.weight', false],
  'attn.wq': ['self_attn.q_proj.weight', true],
  'attn.wk': ['self_attn.k_proj.weight', true],
  'attn.wv': ['self_attn.v_proj.weight', true],
  'attn.bq': ['self_attn.q_proj.bias', false],
  'attn.bk': ['self_attn.k_proj.bias', false],
  'attn.bv': ['self_attn.v_proj.bias', false],
  'attn.q_norm.weight': ['self_attn.q_norm.weight', false],
  'attn.k_norm.weight': ['self_attn.k_norm.weight', false],
  'attn.wo': ['self_attn.o_proj.weight', true],
  'mlp_norm.weight': ['post_attention_layernorm.weight', false],
  'mlp.w1': ['mlp.gate_proj.weight', true],
  'mlp.w3': ['mlp.up_proj.weight', true],
  'mlp.w2': ['mlp.down_proj.weight', true],
};

/** Every weight of `cfg` with its Hugging Face name, in `weightShapes` order. */
export function hfWeightNames(cfg: TransformerConfig): HfWeightName[] {
  return weightShapes(cfg).map(([name, shape]) => {
    if (name === 'embed.weight') return { hf: 'model.embed_tokens.weight', name, transpose: false, shape };
    if (name === 'norm.weight') return { hf: 'model.norm.weight', name, transpose: false, shape };
    if (name === 'lm_head.weight') return { hf: 'lm_head.weight', name, transpose: true, shape };
    const m = /^layers\.(\d+)\.(.+)$/.exec(name);
    const mapped = m && LAYER_NAMES[m[2] as string];
    if (!m || !mapped) throw new Error(`no Hugging Face name for weight ${name}`);
    return { hf: `model.layers.${m[1]}.${mapped[0]}`, name, transpose: mapped[1], shape };
  });
}

/** Tensors `transformers` itself skips when loading these models: rotary tables some exports saved. */
const IGNORED = /\.rotary_emb\.inv_freq$/;

/**
 * The shards of a model directory in reading order, with the tensors the index puts in each:
 * `model.safetensors.index.json` when present, else the single `model.safetensors`.
 */
async function shardsOf(dir: string): Promise<{ file: string; listed?: Set<string> }[]> {
  const indexFile = join(dir, HF_INDEX_FILE);
  const hasIndex = await readFile(indexFile).then(
    () => true,
    () => false,
  );
  if (!hasIndex) return [{ file: join(dir, HF_WEIGHTS_FILE) }];
  const index = await readJsonFile<{ weight_map?: unknown }>(indexFile);
  const map = index.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map) || !Object.values(map).every((f) => typeof f === 'string' && f.length > 0))
    throw new CheckpointError(`${indexFile}: weight_map must map each tensor name to a shard file name`);
  const shards = new Map<string, Set<string>>();
  for (const [name, shard] of Object.entries(map as Record<string, string>)) {
    if (shard.includes('/') || shard.includes('\\') || shard.startsWith('.'))
      throw new CheckpointError(`${indexFile}: shard '${shard}' must be a file in the model directory`);
    if (!shards.has(shard)) shards.set(shard, new Set());
    shards.get(shard)!.add(name);
  }
  return [...shards].map(([shard, listed]) => ({ file: join(dir, shard), listed }));
}

/**
 * Reads the weights `cfg` needs from a model directory as float32 tensors named as in
 * `weightShapes`, one shard and one tensor at a time (peak memory: the model plus one tensor's
 * raw bytes and its float32 copy). Refuses a missing shard or tensor, a tensor the architecture
 * does not have, a wrong shape and a dtype other than F32/F16/BF16, naming the file. With tied
 * embeddings a stored `lm_head.weight` is skipped, as `transformers` ties it to the embedding.
 */
export async function readHfWeights(dir: string, cfg: TransformerConfig): Promise<Map<string, tf.Tensor>> {
  const names = hfWeightNames(cfg);
  const byHf = new Map(names.map((n) => [n.hf, n]));
  const out = new Map<string, tf.Tensor>();
  const where = new Map<string, string>();
  try {
    for (const { file, listed } of await shardsOf(dir)) {
      const reader = await SafetensorsReader.open(file);
      try {
        for (const name of listed ?? [])
          if (!reader.tensors.has(name)) throw new CheckpointError(`${file}: tensor '${name}' is listed in ${HF_INDEX_FILE} but not in this shard`);
        for (const [hf, info] of reader.tensors) {
          if (IGNORED.test(hf) || (hf === 'lm_head.weight' && cfg.tiedEmbeddings)) continue;
          const w = byHf.get(hf);
          if (!w) throw new CheckpointError(`${file}: unexpected tensor '${hf}' for this config.json (the architecture has no such weight)`);
          if (where.has(hf)) throw new CheckpointError(`${file}: tensor '${hf}' is also in ${where.get(hf)}`);
          const expected = w.transpose ? [...w.shape].reverse() : w.shape;
          if (info.shape.join() !== expected.join())
            throw new CheckpointError(`${file}: tensor '${hf}' has shape [${info.shape.join(', ')}], config.json implies [${expected.join(', ')}]`);
          const values = await reader.readFloat32(hf, { transpose: w.transpose });
          out.set(w.name, tf.tensor(values, w.shape, 'float32'));
          where.set(hf, file);
        }
      } finally {
        await reader.close();
      }
    }
    const missing = names.filter((n) => !out.has(n.name)).map((n) => n.hf);
    if (missing.length)
      throw new CheckpointError(
        `${dir}: missing tensor${missing.length > 1 ? 's' : ''} ${missing
          .slice(0, 5)
          .map((m) => `'${m}'`)
          .join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''} (config.json implies them)`,
      );
    return out;
  } catch (error) {
    tf.dispose([...out.values()]);
    throw error;
  }
}
