/**
 * A Hugging Face `config.json` → this plugin's `TransformerConfig`, for the architectures whose
 * computation the transformer reproduces exactly: Llama (incl. SmolLM2 and Llama 3.x rotary
 * scaling), Mistral without an active sliding window, Qwen2 (q/k/v biases) and Qwen3 (q/k
 * RMSNorm, explicit head size).
 *
 * The reading follows `transformers`' modelling code and config classes (v4.4x–v5): each field
 * that code reads and that changes the computation is either mapped or refused with a
 * `CheckpointError` naming the file and the field. Fields `transformers` does not read for these
 * architectures (e.g. SmolLM2's `rope_interleaved`) do not change its results and are ignored, as
 * there. Defaults are those of the architecture's config class.
 */
import { CheckpointError } from '@grpo/core';
import type { TransformerConfig } from '../config.js';

/** The `architectures` entries this loader reads. */
export const HF_ARCHITECTURES = ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM', 'Qwen3ForCausalLM'] as const;
export type HfArchitecture = (typeof HF_ARCHITECTURES)[number];

interface ArchitectureDefaults {
  modelType: string;
  maxPositionEmbeddings: number;
  /** `head_dim` when the config has none: dModel/nHeads, or a fixed size (Qwen3Config's 128). */
  headDim?: number;
  qkvBias: boolean;
  qkNorm: boolean;
  /** The config has `use_sliding_window` (Qwen): the window applies only when that is true. */
  slidingOptIn: boolean;
  /** `sliding_window` when the config has no such key. */
  slidingWindow?: number;
}

const ARCHITECTURES: Record<HfArchitecture, ArchitectureDefaults> = {
  LlamaForCausalLM: { modelType: 'llama', maxPositionEmbeddings: 2048, qkvBias: false, qkNorm: false, slidingOptIn: false },
  MistralForCausalLM: { modelType: 'mistral', maxPositionEmbeddings: 4096 * 32, qkvBias: false, qkNorm: false, slidingOptIn: false, slidingWindow: 4096 },
  Qwen2ForCausalLM: { modelType: 'qwen2', maxPositionEmbeddings: 32768, qkvBias: true, qkNorm: false, slidingOptIn: true, slidingWindow: 4096 },
  Qwen3ForCausalLM: { modelType: 'qwen3', maxPositionEmbeddings: 32768, headDim: 128, qkvBias: false, qkNorm: true, slidingOptIn: true, slidingWindow: 4096 },
};

/** What a Hugging Face `config.json` says about the model. */
export interface HfModelConfig {
  architecture: HfArchitecture;
  model: TransformerConfig;
  bosTokenId?: number;
  /** `eos_token_id` (one id or several). */
  eosTokenIds: number[];
  padTokenId?: number;
}

/** Token ids of an `eos_token_id`-style field: an id, a list of ids, or null/absent (none). */
export function tokenIdList(value: unknown): number[] | undefined {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.every((v) => Number.isInteger(v) && (v as number) >= 0) ? (list as number[]) : undefined;
}

/**
 * Reads a parsed `config.json` (`file` is named in errors). Every problem — an unknown
 * architecture, a missing size, a field whose value would change the computation — is listed in
 * one `CheckpointError`.
 */
export function parseHfConfig(json: unknown, file: string): HfModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new CheckpointError(`${file}: expected a JSON object`);
  const c = json as Record<string, unknown>;
  const problems: string[] = [];
  const archs = c.architectures;
  if (!Array.isArray(archs) || archs.length !== 1 || !HF_ARCHITECTURES.includes(archs[0] as HfArchitecture))
    throw new CheckpointError(
      `${file}: architectures ${JSON.stringify(archs)} is not supported; this loader reads exactly one of ${HF_ARCHITECTURES.join(', ')}`,
    );
  const architecture = archs[0] as HfArchitecture;
  const arch = ARCHITECTURES[architecture];

  const int = (key: string, min: number, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (v === undefined) problems.push(`${key} is missing`);
    else if (!Number.isInteger(v) || (v as number) < min) problems.push(`${key} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const num = (key: string, fallback: number, at: Record<string, unknown> = c, label = key): number => {
    const v = at[key] ?? fallback;
    if (typeof v !== 'number' || !(v > 0)) problems.push(`${label} must be a number > 0, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const refuse = (key: string, why: string, value = c[key]) => problems.push(`${key} ${JSON.stringify(value)} is not supported: ${why}`);

  if (c.model_type !== undefined && c.model_type !== arch.modelType)
    problems.push(`model_type ${JSON.stringify(c.model_type)} does not match ${architecture} (expected "${arch.modelType}")`);
  const dModel = int('hidden_size', 1);
  const nHeads = int('num_attention_heads', 1);
  const nKvHeads = int('num_key_value_heads', 1, nHeads);
  const hd = c.head_dim ?? arch.headDim;
  if (hd !== undefined && hd !== null && (!Number.isInteger(hd) || (hd as number) < 2 || (hd as number) % 2 !== 0))
    problems.push(`head_dim must be an even integer ≥ 2, got ${JSON.stringify(hd)}`);
  if ((hd === undefined || hd === null) && Number.isInteger(dModel) && Number.isInteger(nHeads) && (dModel % nHeads !== 0 || (dModel / nHeads) % 2 !== 0))
    problems.push(`hidden_size ${dModel} / num_attention_heads ${nHeads} must be an even integer (the head size) when head_dim is not given`);
  if (Number.isInteger(nHeads) && Number.isInteger(nKvHeads) && nHeads % nKvHeads !== 0)
    problems.push(`num_key_value_heads ${nKvHeads} must divide num_attention_heads ${nHeads}`);
  const maxSeqLen = int('max_position_embeddings', 2, arch.maxPositionEmbeddings);

  // Rotary embedding: `rope_theta` and `rope_scaling` (transformers v4) or `rope_parameters` (v5).
  const ropeParams = c.rope_parameters;
  if (ropeParams !== undefined && ropeParams !== null && (typeof ropeParams !== 'object' || Array.isArray(ropeParams)))
    problems.push(`rope_parameters must be an object, got ${JSON.stringify(ropeParams)}`);
  const rp = (typeof ropeParams === 'object' && ropeParams !== null ? ropeParams : {}) as Record<string, unknown>;
  const ropeBase = 'rope_theta' in rp ? num('rope_theta', 10000, rp, 'rope_parameters.rope_theta') : num('rope_theta', 10000);
  const scalingKey = c.rope_scaling !== undefined && c.rope_scaling !== null ? 'rope_scaling' : 'rope_parameters';
  const scaling = (c.rope_scaling ?? ropeParams ?? null) as Record<string, unknown> | null;
  let ropeScaling: TransformerConfig['ropeScaling'];
  if (scaling !== null && typeof scaling === 'object' && !Array.isArray(scaling)) {
    const type = scaling.rope_type ?? scaling.type ?? 'default';
    if (type === 'llama3') {
      const field = (k: string) => num(k, NaN, scaling, `${scalingKey}.${k}`);
      ropeScaling = {
        type: 'llama3',
        factor: field('factor'),
        lowFreqFactor: field('low_freq_factor'),
        highFreqFactor: field('high_freq_factor'),
        originalMaxPositionEmbeddings: field('original_max_position_embeddings'),
      };
      if (!(ropeScaling.highFreqFactor > ropeScaling.lowFreqFactor)) problems.push(`${scalingKey}.high_freq_factor must exceed low_freq_factor`);
    } else if (type !== 'default')
      problems.push(`${scalingKey}.rope_type ${JSON.stringify(type)} is not supported: it changes the rotary embedding (supported: "default", "llama3")`);
  } else if (scaling !== null && scalingKey === 'rope_scaling') problems.push(`rope_scaling must be an object or null, got ${JSON.stringify(scaling)}`);
  const partial = c.partial_rotary_factor ?? rp.partial_rotary_factor;
  if (partial !== undefined && partial !== null && partial !== 1) refuse('partial_rotary_factor', 'rotary embedding on part of each head is not implemented');

  const act = c.hidden_act ?? 'silu';
  if (act !== 'silu' && act !== 'swish') refuse('hidden_act', 'the MLP is SwiGLU with SiLU');
  if (c.attention_bias !== undefined && c.attention_bias !== false)
    refuse('attention_bias', 'biases on the attention projections are not implemented for this architecture');
  if (c.mlp_bias !== undefined && c.mlp_bias !== false) refuse('mlp_bias', 'biases on the MLP projections are not implemented');
  if (typeof c.attention_dropout === 'number' && c.attention_dropout !== 0) refuse('attention_dropout', 'dropout is not implemented (training would differ)');
  if (c.quantization_config !== undefined && c.quantization_config !== null)
    refuse('quantization_config', 'quantized weights are not supported (use F32, F16 or BF16 weights)');
  if (c.tie_word_embeddings !== undefined && typeof c.tie_word_embeddings !== 'boolean')
    problems.push(`tie_word_embeddings must be a boolean, got ${JSON.stringify(c.tie_word_embeddings)}`);

  // Sliding-window attention: the same computation only when no sequence can exceed the window.
  const window = 'sliding_window' in c ? c.sliding_window : arch.slidingWindow;
  const windowOn = arch.slidingOptIn ? c.use_sliding_window === true : true;
  if (windowOn && window !== undefined && window !== null) {
    const nLayers = c.num_hidden_layers as number;
    const layerTypes = Array.isArray(c.layer_types) ? (c.layer_types as unknown[]) : undefined;
    const slidingLayers = layerTypes
      ? layerTypes.filter((t) => t === 'sliding_attention').length
      : arch.slidingOptIn
        ? Math.max(0, nLayers - ((c.max_window_layers as number | undefined) ?? 28))
        : nLayers;
    if (!Number.isInteger(window) || (window as number) < 1) problems.push(`sliding_window must be a positive integer or null, got ${JSON.stringify(window)}`);
    else if (slidingLayers > 0 && (window as number) < maxSeqLen)
      refuse(
        'sliding_window',
        `sliding-window attention (window ${String(window)} < max_position_embeddings ${maxSeqLen}) is not implemented and would change results for longer sequences`,
        window,
      );
  }

  const vocabSize = int('vocab_size', 2);
  const nLayers = int('num_hidden_layers', 1);
  const ffnDim = int('intermediate_size', 1);
  const normEps = num('rms_norm_eps', 1e-6);
  const bos = c.bos_token_id;
  if (bos !== undefined && bos !== null && !(Number.isInteger(bos) && (bos as number) >= 0))
    problems.push(`bos_token_id must be a token id, got ${JSON.stringify(bos)}`);
  const eosTokenIds = tokenIdList(c.eos_token_id);
  if (!eosTokenIds) problems.push(`eos_token_id must be a token id or a list of them, got ${JSON.stringify(c.eos_token_id)}`);
  const pad = c.pad_token_id;

  if (problems.length) throw new CheckpointError(`${file}: cannot load this ${architecture}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  const headDim = (hd ?? undefined) as number | undefined;
  const model: TransformerConfig = {
    vocabSize,
    dModel,
    nLayers,
    nHeads,
    nKvHeads,
    ffnDim,
    maxSeqLen,
    ropeBase,
    normEps,
    tiedEmbeddings: (c.tie_word_embeddings as boolean | undefined) ?? false,
    ...(headDim !== undefined && headDim !== dModel / nHeads ? { headDim } : {}),
    ...(arch.qkvBias ? { qkvBias: true } : {}),
    ...(arch.qkNorm ? { qkNorm: true } : {}),
    ...(ropeScaling ? { ropeScaling } : {}),
  };
  return {
    architecture,
    model,
    ...(typeof bos === 'number' ? { bosTokenId: bos } : {}),
    eosTokenIds: eosTokenIds as number[],
    ...(Number.isInteger(pad) && (pad as number) >= 0 ? { padTokenId: pad as number } : {}),
  };
}
