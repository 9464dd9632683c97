/**
 * Loading Hugging Face model directories the tests write themselves (hf-fixtures.ts): each
 * architecture feature — Qwen2's q/k/v biases, Qwen3's q/k RMSNorm and explicit head_dim,
 * Llama 3's rotary scaling, GQA, tied and untied embeddings, sharding, F32/F16/BF16 — checked
 * against the independent float64 reference of hf-reference.ts, logits and greedy tokens.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadHfPolicy, loadPolicy, type TransformerPolicy } from '../src/index.js';
import { readHfTokenizer } from '../src/hf/tokenizer.js';
import { charTokenizerJson, randomHfWeights, templateWithBos, writeHfModel, type FixtureDtype, type HfWeights } from './hf-fixtures.js';
import { referenceLogits } from './hf-reference.js';
import { logitsAt, wasmTempDir } from './helpers.js';

const tmp = wasmTempDir('grpo-hf-load-');

const base = {
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 40,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-6,
  hidden_act: 'silu',
  bos_token_id: 3,
  eos_token_id: 2,
};

interface Fixture {
  what: string;
  config: Record<string, unknown>;
  dtype: FixtureDtype;
  shards?: number;
  generationConfig?: Record<string, unknown>;
  /** What the loader must make of config.json. */
  expected: Record<string, unknown>;
}

const FIXTURES: Fixture[] = [
  {
    what: 'Qwen2: q/k/v biases, GQA, untied, rope_theta 1e6, 3 shards, F32, EOS ids from generation_config.json',
    config: {
      ...base,
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      rope_theta: 1_000_000,
      tie_word_embeddings: false,
      use_sliding_window: false,
      sliding_window: 32,
      max_window_layers: 1,
    },
    dtype: 'F32',
    shards: 3,
    generationConfig: { bos_token_id: 3, eos_token_id: [2, 7] },
    expected: { qkvBias: true, nKvHeads: 2, tiedEmbeddings: false, ropeBase: 1_000_000 },
  },
  {
    what: 'Qwen3: q/k RMSNorm, head_dim 8 ≠ hidden/heads, tied, BF16',
    config: {
      ...base,
      architectures: ['Qwen3ForCausalLM'],
      model_type: 'qwen3',
      head_dim: 8,
      rope_theta: 1_000_000,
      tie_word_embeddings: true,
      attention_bias: false,
      use_sliding_window: false,
    },
    dtype: 'BF16',
    expected: { qkNorm: true, headDim: 8, tiedEmbeddings: true },
  },
  {
    what: 'Llama 3: llama3 rope scaling (all three frequency bands), GQA 2:1, untied, F16',
    config: {
      ...base,
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      num_attention_heads: 2,
      num_key_value_heads: 1,
      max_position_embeddings: 512,
      rms_norm_eps: 1e-5,
      rope_theta: 500_000,
      rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 256 },
      tie_word_embeddings: false,
      attention_bias: false,
      mlp_bias: false,
      pretraining_tp: 1,
    },
    dtype: 'F16',
    shards: 2,
    expected: { ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 256 }, nKvHeads: 1 },
  },
  {
    what: 'Mistral: a sliding window no sequence can exceed (4096 ≥ max_position_embeddings), tied',
    config: { ...base, architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: 4096, tie_word_embeddings: true },
    dtype: 'F32',
    expected: { tiedEmbeddings: true, maxSeqLen: 64 },
  },
];

const IDS = [3, 17, 9, 30, 4, 11, 25, 8, 38, 0, 21];

const maxAbsDiff = (a: number[][], b: number[][]) => Math.max(...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - b[i]![j]!))));
const argmax = (row: number[]) => row.reduce((best, v, i) => (v > row[best]! ? i : best), 0);

/** Greedy continuation by the reference, re-running the whole sequence at each step; stops after an EOS id. */
function referenceGreedy(config: Record<string, unknown>, weights: HfWeights, ids: readonly number[], n: number, eos: readonly number[]) {
  const seq = [...ids];
  const out: number[] = [];
  let minGap = Infinity;
  while (out.length < n) {
    const last = referenceLogits(config, weights, seq).at(-1)!;
    const top = argmax(last);
    minGap = Math.min(minGap, last[top]! - Math.max(...last.filter((_, i) => i !== top)));
    out.push(top);
    seq.push(top);
    if (eos.includes(top)) break;
  }
  return { out, minGap };
}

describe.each(FIXTURES)('$what', (fx) => {
  let policy: TransformerPolicy;
  let weights: HfWeights;
  const dir = () => join(tmp.path, fx.what.split(':')[0]!.replace(/\W+/g, '-'));

  beforeAll(async () => {
    weights = randomHfWeights(fx.config, 7, fx.dtype);
    await writeHfModel(dir(), fx.config, weights, { dtype: fx.dtype, shards: fx.shards, generationConfig: fx.generationConfig });
    policy = await loadHfPolicy(dir());
  });
  afterAll(() => policy?.dispose());

  it('reads config.json into the architecture it describes', () => {
    expect(policy.config).toMatchObject(fx.expected);
  });

  it('gives the float64 reference logits at every position (max |Δ| ≤ 1e-4)', () => {
    const ref = referenceLogits(fx.config, weights, IDS);
    const ours = logitsAt(policy, IDS);
    expect(Math.max(...ref.flat().map(Math.abs))).toBeGreaterThan(1); // far from uniform: the check has teeth
    expect(maxAbsDiff(ours, ref)).toBeLessThanOrEqual(1e-4);
  });

  it("greedy decoding with the KV cache gives the reference's tokens, alone and left-padded in a batch", async () => {
    const eos = (fx.generationConfig?.eos_token_id as number[] | undefined) ?? [fx.config.eos_token_id as number];
    const prompt = IDS.slice(0, 5);
    const { out: expected, minGap } = referenceGreedy(fx.config, weights, prompt, 8, eos);
    expect(minGap).toBeGreaterThan(1e-3);
    const alone = (await policy.generateFromIds([prompt], 1, { temperature: 0, maxNewTokens: 8 }))[0]![0]!;
    expect(alone.tokenIds).toEqual(expected);
    expect(alone.finishReason).toBe(eos.includes(expected.at(-1)!) ? 'eos' : 'length');
    const [batched, other] = (await policy.generateFromIds([prompt, IDS.slice(0, 2)], 1, { temperature: 0, maxNewTokens: 8 })).map((group) => group[0]!);
    expect(batched!.tokenIds).toEqual(expected);
    expect(other!.tokenIds).toEqual(referenceGreedy(fx.config, weights, IDS.slice(0, 2), 8, eos).out);
  });
});

describe('what the features change', () => {
  it('llama3 rope scaling matters: the reference without it is far from the loaded model', async () => {
    const fx = FIXTURES[2]!;
    const weights = randomHfWeights(fx.config, 7, fx.dtype);
    const policy = await loadHfPolicy(join(tmp.path, 'Llama-3'));
    const unscaled = referenceLogits({ ...fx.config, rope_scaling: null }, weights, IDS);
    expect(maxAbsDiff(logitsAt(policy, IDS), unscaled)).toBeGreaterThan(1e-2);
    policy.dispose();
  });

  it('gradients reach the biases and q/k norms; a training step leaks no tensors', async () => {
    for (const name of ['Qwen2', 'Qwen3']) {
      const policy = await loadHfPolicy(join(tmp.path, name));
      const before = tf.memory().numTensors;
      const { grads, value } = tf.variableGrads(
        () => tf.tidy(() => tf.neg(tf.sum(policy.tokenLogProbs({ prompts: [[3, 17, 9]], completions: [[30, 4, 2]] }).logprobs))) as tf.Scalar,
        policy.trainableVariables(),
      );
      const norms = Object.fromEntries(Object.entries(grads).map(([k, g]) => [k.split('/')[1], tf.tidy(() => tf.norm(g).dataSync()[0]!)]));
      const wanted =
        name === 'Qwen2' ? ['layers.0.attn.bq', 'layers.1.attn.bk', 'layers.0.attn.bv'] : ['layers.0.attn.q_norm.weight', 'layers.1.attn.k_norm.weight'];
      for (const w of wanted) expect(norms[w], w).toBeGreaterThan(0);
      tf.dispose([value, ...Object.values(grads)]);
      expect(tf.memory().numTensors).toBe(before);
      policy.dispose();
    }
  });
});

describe('a loaded model saved as a GRPO.ts checkpoint', () => {
  it('loads back with the same architecture, prompt and stop conventions and bit-identical logits', async () => {
    const fx = FIXTURES[0]!;
    const dir = join(tmp.path, 'with-tokenizer');
    await writeHfModel(dir, fx.config, randomHfWeights(fx.config, 11, 'F32'), {
      generationConfig: fx.generationConfig,
      files: { 'tokenizer.json': JSON.stringify(charTokenizerJson()), 'tokenizer_config.json': JSON.stringify({ eos_token: '</s>', bos_token: '<s>' }) },
    });
    const policy = await loadHfPolicy(dir);
    expect(policy.conventions).toEqual({ promptPrefix: [3], eosIds: [2, 7] });
    expect(policy.encodePrompt('ab')).toEqual([3, 4, 5]);
    const byText = (await policy.generate(['ab'], 1, { temperature: 0, maxNewTokens: 6 }))[0]![0]!;
    const byIds = (await policy.generateFromIds([[3, 4, 5]], 1, { temperature: 0, maxNewTokens: 6 }))[0]![0]!;
    expect(byIds.tokenIds).toEqual(byText.tokenIds);
    expect(byIds.text).toBe(byText.text);
    await policy.save(join(dir, 'grpo'));
    const back = await loadPolicy(join(dir, 'grpo'));
    expect(back.config).toEqual(policy.config);
    expect(back.conventions).toEqual(policy.conventions);
    expect(logitsAt(back, IDS)).toEqual(logitsAt(policy, IDS));
    await back.load(join(dir, 'grpo'));
    policy.dispose();
    back.dispose();
  });
});

describe('a model with more embedding rows than tokens (vocab_size 40, tokenizer 32)', () => {
  it('decodes completions without the ids that have no text, as transformers does', async () => {
    const fx = FIXTURES[0]!;
    const dir = join(tmp.path, 'padded-vocab');
    const weights = randomHfWeights(fx.config, 13, 'F32');
    weights.get('lm_head.weight')!.values.fill(0); // uniform next-token distribution
    await writeHfModel(dir, fx.config, weights, {
      files: { 'tokenizer.json': JSON.stringify(charTokenizerJson()), 'tokenizer_config.json': JSON.stringify({ eos_token: '</s>' }) },
    });
    const policy = await loadHfPolicy(dir);
    const c = (await policy.generate(['ab'], 1, { temperature: 1, maxNewTokens: 24, seed: 3 }))[0]![0]!;
    const beyond = c.tokenIds.filter((id) => id >= 32);
    expect(beyond.length).toBeGreaterThan(0);
    expect(c.text).toBe(
      policy.tokenizer.decode(
        c.tokenIds.filter((id) => id < 32),
        { skipSpecial: true },
      ),
    );
    policy.dispose();
  });
});

describe('how prompts start (readHfTokenizer)', () => {
  const cases: [string, unknown, Record<string, unknown>, number[]][] = [
    ['TemplateProcessing with BOS (Llama 3 style)', templateWithBos(), {}, [3]],
    ['TemplateProcessing inside a Sequence', { type: 'Sequence', processors: [{ type: 'ByteLevel' }, templateWithBos()] }, {}, [3]],
    ['no post-processor (Qwen, SmolLM2)', null, {}, []],
    ['add_bos_token: false wins over the post-processor', templateWithBos(), { add_bos_token: false }, []],
    ['add_bos_token: true without a post-processor', null, { add_bos_token: true, bos_token: '<s>' }, [3]],
  ];
  it.each(cases)('%s', async (what, post, config, prefix) => {
    const dir = join(tmp.path, `tok-${what.replace(/\W+/g, '-')}`);
    await writeHfModel(dir, { ...base, architectures: ['LlamaForCausalLM'] }, new Map(), {
      files: { 'tokenizer.json': JSON.stringify(charTokenizerJson(post)), 'tokenizer_config.json': JSON.stringify({ eos_token: '</s>', ...config }) },
    });
    expect((await readHfTokenizer(dir))!.promptPrefix).toEqual(prefix);
  });
});
