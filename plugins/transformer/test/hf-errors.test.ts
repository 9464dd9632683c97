/**
 * Hugging Face directories the loader must refuse, each with a `CheckpointError` that names the
 * file and the field or tensor at fault; and the half-precision decoding against bit patterns from
 * the IEEE 754 and bfloat16 definitions.
 */
import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointError } from '@grpo/core';
import { describe, expect, it } from 'vitest';
import { loadHfPolicy } from '../src/index.js';
import { parseHfConfig } from '../src/hf/config.js';
import { toFloat32 } from '../src/hf/safetensors.js';
import { randomHfWeights, safetensorsBytes, writeHfModel, type HfWeights } from './hf-fixtures.js';
import { wasmTempDir } from './helpers.js';

const tmp = wasmTempDir('grpo-hf-errors-');

const config = {
  architectures: ['Qwen2ForCausalLM'],
  model_type: 'qwen2',
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 40,
  max_position_embeddings: 64,
  tie_word_embeddings: false,
};

let n = 0;
/** Writes a model directory (optionally changed) and returns what loading it throws. */
async function refusal(
  change: { config?: Record<string, unknown>; weights?: (w: HfWeights) => void; shards?: number; after?: (dir: string) => Promise<void> } = {},
): Promise<{ error: CheckpointError; dir: string }> {
  const dir = join(tmp.path, `m${++n}`);
  const cfg = { ...config, ...change.config };
  const weights = randomHfWeights(config, 1, 'F32');
  change.weights?.(weights);
  await writeHfModel(dir, cfg, weights, { shards: change.shards });
  await change.after?.(dir);
  const error = await loadHfPolicy(dir).then(
    (p) => {
      p.dispose();
      throw new Error('expected the load to fail');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CheckpointError);
  return { error: error as CheckpointError, dir };
}

describe('config.json the loader refuses', () => {
  it.each([
    ['an unknown architecture', { architectures: ['GPT2LMHeadModel'] }, /architectures \["GPT2LMHeadModel"\] is not supported.*LlamaForCausalLM/],
    ['two architectures', { architectures: ['Qwen2ForCausalLM', 'LlamaForCausalLM'] }, /is not supported; this loader reads exactly one/],
    ['rope_scaling of type yarn', { rope_scaling: { rope_type: 'yarn', factor: 4 } }, /rope_scaling\.rope_type "yarn" is not supported/],
    ['rope_scaling of type linear (old key `type`)', { rope_scaling: { type: 'linear', factor: 2 } }, /rope_scaling\.rope_type "linear" is not supported/],
    ['v5 rope_parameters of type dynamic', { rope_parameters: { rope_type: 'dynamic', rope_theta: 10000, factor: 2 } }, /rope_parameters\.rope_type "dynamic"/],
    [
      'an active sliding window shorter than the context',
      { use_sliding_window: true, sliding_window: 16, max_window_layers: 1 },
      /sliding_window 16 is not supported: sliding-window attention \(window 16 < max_position_embeddings 64\)/,
    ],
    ['partial rotary embedding', { partial_rotary_factor: 0.5 }, /partial_rotary_factor 0.5 is not supported/],
    ['another activation', { hidden_act: 'gelu' }, /hidden_act "gelu" is not supported/],
    ['biases on every attention projection', { attention_bias: true }, /attention_bias true is not supported/],
    ['quantized weights', { quantization_config: { quant_method: 'gptq' } }, /quantization_config .* is not supported/],
    ['heads that do not divide', { num_key_value_heads: 3 }, /num_key_value_heads 3 must divide num_attention_heads 4/],
    ['a missing size', { hidden_size: undefined }, /hidden_size is missing/],
    ['a model_type of another family', { model_type: 'llama' }, /model_type "llama" does not match Qwen2ForCausalLM/],
  ])('%s', async (_what, change, message) => {
    const { error, dir } = await refusal({ config: change });
    expect(error.message).toContain(join(dir, 'config.json'));
    expect(error.message).toMatch(message);
  });

  it('lists every problem of a config at once', () => {
    const bad = { ...config, hidden_act: 'relu', rope_scaling: { rope_type: 'yarn' }, mlp_bias: true };
    expect(() => parseHfConfig(bad, 'x/config.json')).toThrow(/hidden_act[\s\S]*mlp_bias[\s\S]*rope_scaling|rope_scaling[\s\S]*hidden_act[\s\S]*mlp_bias/);
  });

  it("Mistral's default sliding window (4096, when config.json has no sliding_window) is refused for a longer context", () => {
    const mistral = { ...config, architectures: ['MistralForCausalLM'], model_type: 'mistral', max_position_embeddings: 32768 };
    expect(() => parseHfConfig(mistral, 'm/config.json')).toThrow(/m\/config\.json[\s\S]*sliding_window 4096 is not supported/);
    expect(parseHfConfig({ ...mistral, sliding_window: null }, 'm/config.json').model.maxSeqLen).toBe(32768);
  });
});

describe('weights the loader refuses', () => {
  it('a missing shard, naming it', async () => {
    const { error, dir } = await refusal({ shards: 2, after: (d) => rm(join(d, 'model-00002-of-00002.safetensors')) });
    expect(error.message).toBe(`${join(dir, 'model-00002-of-00002.safetensors')}: file is missing.`);
  });

  it('a tensor the index lists in a shard that does not hold it', async () => {
    const { error } = await refusal({
      shards: 2,
      after: async (d) => {
        const file = join(d, 'model.safetensors.index.json');
        const index = JSON.parse(await readFile(file, 'utf8')) as { weight_map: Record<string, string> };
        index.weight_map['model.norm.weight'] = 'model-00001-of-00002.safetensors';
        index.weight_map['model.layers.0.mlp.up_proj.weight'] = 'model-00001-of-00002.safetensors';
        await writeFile(file, JSON.stringify(index));
      },
    });
    expect(error.message).toMatch(/model-00001-of-00002\.safetensors: tensor '.*' is listed in model\.safetensors\.index\.json but not in this shard/);
  });

  it('no weights file at all', async () => {
    const { error, dir } = await refusal({ after: (d) => rm(join(d, 'model.safetensors')) });
    expect(error.message).toBe(`${join(dir, 'model.safetensors')}: file is missing.`);
  });

  it('a tensor of the wrong shape', async () => {
    const { error, dir } = await refusal({
      weights: (w) => w.set('model.layers.1.self_attn.k_proj.weight', { shape: [16, 16], values: new Float64Array(256) }),
    });
    expect(error.message).toBe(
      `${join(dir, 'model.safetensors')}: tensor 'model.layers.1.self_attn.k_proj.weight' has shape [16, 16], config.json implies [8, 16]`,
    );
  });

  it('a tensor of an unsupported dtype', async () => {
    const { error, dir } = await refusal({
      after: async (d) => {
        const weights = randomHfWeights(config, 1, 'F32');
        const entries = [...weights].map(([name, w]) => ({ name, dtype: 'F32', shape: w.shape, bytes: new Uint8Array(Float32Array.from(w.values).buffer) }));
        const i = entries.findIndex((e) => e.name === 'model.norm.weight');
        entries[i] = {
          name: 'model.norm.weight',
          dtype: 'F64',
          shape: [16],
          bytes: new Uint8Array(Float64Array.from(weights.get('model.norm.weight')!.values).buffer),
        };
        await writeFile(join(d, 'model.safetensors'), safetensorsBytes(entries));
      },
    });
    expect(error.message).toBe(`${join(dir, 'model.safetensors')}: tensor 'model.norm.weight' has dtype F64; supported: F32, F16, BF16`);
  });

  it('a truncated file', async () => {
    const { error, dir } = await refusal({ after: async (d) => truncate(join(d, 'model.safetensors'), 5000) });
    expect(error.message).toMatch(
      new RegExp(`^${join(dir, 'model.safetensors').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not a valid safetensors file: .*truncated`),
    );
  });

  it('a missing tensor', async () => {
    const { error, dir } = await refusal({ weights: (w) => w.delete('model.layers.1.self_attn.v_proj.bias') });
    expect(error.message).toBe(`${dir}: missing tensor 'model.layers.1.self_attn.v_proj.bias' (config.json implies them)`);
  });

  it('a tensor the architecture does not have', async () => {
    const { error } = await refusal({ weights: (w) => w.set('model.layers.0.self_attn.o_proj.bias', { shape: [16], values: new Float64Array(16) }) });
    expect(error.message).toMatch(/model\.safetensors: unexpected tensor 'model\.layers\.0\.self_attn\.o_proj\.bias' for this config\.json/);
  });
});

describe('half-precision decoding (bit patterns from the format definitions)', () => {
  const halves = (bits: number[]) => new Uint8Array(new Uint16Array(bits).buffer);
  it('F16: normals, the largest, subnormals, signed zeros, infinities, NaN', () => {
    const bits = [0x3c00, 0xc000, 0x7bff, 0x3555, 0x0400, 0x0001, 0x03ff, 0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e00];
    const want = [1, -2, 65504, 0.333251953125, 2 ** -14, 2 ** -24, 1023 * 2 ** -24, 0, -0, Infinity, -Infinity, NaN];
    expect([...toFloat32(halves(bits), 'F16')]).toEqual(want);
  });
  it('BF16: the upper half of the float32 bits', () => {
    const bits = [0x3f80, 0xc000, 0x3eab, 0x7f7f, 0x0001, 0x8000, 0x7f80, 0x7fc0];
    const want = [1, -2, 0.333984375, 3.3895313892515355e38, 9.183549615799121e-41, -0, Infinity, NaN];
    expect([...toFloat32(halves(bits), 'BF16')]).toEqual(want);
  });
});
