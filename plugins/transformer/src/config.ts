import { ConfigError, field, type Section } from '@grpo/core';
import { z } from 'zod';

const { int, positive } = field;

/** The `policy.model` config section, owned by this plugin: the architecture of a policy built from scratch. */
export const modelSchema = z
  .strictObject({
    vocabSize: int(2).optional().describe("Vocabulary size; defaults to (and must equal) the tokenizer's."),
    dModel: int(2).default(128).describe('Width of the residual stream.'),
    nLayers: int(1).default(4).describe('Transformer blocks.'),
    nHeads: int(1).default(4).describe('Attention heads; must divide dModel (the head size must be even).'),
    nKvHeads: int(1).optional().describe('Grouped-query attention: key/value heads; must divide nHeads. Defaults to nHeads.'),
    ffnDim: int(1).optional().describe('SwiGLU hidden size; defaults to about 8/3·dModel rounded to 8.'),
    maxSeqLen: int(2).default(128).describe('Longest prompt + completion, in tokens (RoPE positions and KV-cache size).'),
    ropeBase: positive().default(10000).describe('Base of the rotary position embedding frequencies.'),
    normEps: positive().default(1e-5).describe('Epsilon of RMSNorm.'),
    tiedEmbeddings: z.boolean().default(true).describe('Share the input embedding with the output projection.'),
  })
  .optional()
  .describe('Architecture of a policy built from scratch (owned by @grpo/plugin-transformer); absent when starting from a checkpoint.');

/** The `policy.huggingface` config key, owned by this plugin: a Hugging Face model directory to start from. */
export const huggingfaceSchema = z
  .string()
  .min(1)
  .optional()
  .describe(
    'Hugging Face model directory to start from (config.json, model.safetensors or a sharded index, tokenizer files), relative to the config file; owned by @grpo/plugin-transformer. Excludes policy.checkpoint and policy.model.',
  );

declare module '@grpo/core' {
  interface PolicySections {
    model: Section<typeof modelSchema>;
    huggingface: Section<typeof huggingfaceSchema>;
  }
}

/** Llama 3 rotary frequency scaling (Hugging Face `rope_scaling` with `rope_type: "llama3"`). */
export interface Llama3RopeScaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/**
 * Architecture features the Hugging Face checkpoints need beyond GRPO.ts's own model. Each is
 * absent when off, so configs (and checkpoints) without them read and compute exactly as before.
 */
export interface ArchitectureExtras {
  /** Size of each attention head when it is not dModel/nHeads (Qwen3); even. */
  headDim?: number;
  /** Biases on the q, k and v projections (Qwen2). */
  qkvBias?: boolean;
  /** RMSNorm over each head of q and of k, before the rotary embedding (Qwen3). */
  qkNorm?: boolean;
  /** Rotary frequency scaling (Llama 3.x). */
  ropeScaling?: Llama3RopeScaling;
}

/** A fully resolved architecture: every size known. Stored as `config.json#model` in checkpoints. */
export interface TransformerConfig extends ArchitectureExtras {
  vocabSize: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  ffnDim: number;
  maxSeqLen: number;
  ropeBase: number;
  normEps: number;
  tiedEmbeddings: boolean;
}

/** The architecture as written: every field optional (defaults as in `modelSchema`). */
export type ModelOptions = NonNullable<z.input<typeof modelSchema>>;

/** SwiGLU hidden size default: about 8/3·dModel, rounded to a multiple of 8. */
export function defaultFfnDim(dModel: number): number {
  return Math.max(8, Math.round((8 * dModel) / 3 / 8) * 8);
}

/**
 * Fills defaults and checks the sizes fit together; throws a `ConfigError` listing every problem.
 * Architecture extras (`headDim`, `qkvBias`, …; checkpoints of Hugging Face models) are kept when on.
 */
export function resolveModelConfig(model: ModelOptions & ArchitectureExtras, vocabSize: number, source = 'policy.model'): TransformerConfig {
  const dModel = model.dModel ?? 128;
  const nHeads = model.nHeads ?? 4;
  const cfg: TransformerConfig = {
    vocabSize: model.vocabSize ?? vocabSize,
    dModel,
    nLayers: model.nLayers ?? 4,
    nHeads,
    nKvHeads: model.nKvHeads ?? nHeads,
    ffnDim: model.ffnDim ?? defaultFfnDim(dModel),
    maxSeqLen: model.maxSeqLen ?? 128,
    ropeBase: model.ropeBase ?? 10000,
    normEps: model.normEps ?? 1e-5,
    tiedEmbeddings: model.tiedEmbeddings ?? true,
    ...(model.headDim !== undefined ? { headDim: model.headDim } : {}),
    ...(model.qkvBias ? { qkvBias: true } : {}),
    ...(model.qkNorm ? { qkNorm: true } : {}),
    ...(model.ropeScaling !== undefined ? { ropeScaling: model.ropeScaling } : {}),
  };
  const issues: { path: string; message: string }[] = [];
  const intAtLeast = (key: keyof TransformerConfig, min: number) => {
    const v = cfg[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) issues.push({ path: key, message: `expected an integer ≥ ${min}, got ${String(v)}` });
  };
  intAtLeast('vocabSize', 2);
  intAtLeast('dModel', 2);
  intAtLeast('nLayers', 1);
  intAtLeast('nHeads', 1);
  intAtLeast('nKvHeads', 1);
  intAtLeast('ffnDim', 1);
  intAtLeast('maxSeqLen', 2);
  if (!(cfg.ropeBase > 0)) issues.push({ path: 'ropeBase', message: `expected a number > 0, got ${cfg.ropeBase}` });
  if (!(cfg.normEps > 0)) issues.push({ path: 'normEps', message: `expected a number > 0, got ${cfg.normEps}` });
  if (cfg.headDim !== undefined) {
    if (!Number.isInteger(cfg.headDim) || cfg.headDim < 2 || cfg.headDim % 2 !== 0)
      issues.push({ path: 'headDim', message: `expected an even integer ≥ 2 (rotary embeddings), got ${String(cfg.headDim)}` });
  } else if (cfg.dModel % cfg.nHeads !== 0) issues.push({ path: 'nHeads', message: `must divide dModel (${cfg.dModel}), got ${cfg.nHeads}` });
  else if ((cfg.dModel / cfg.nHeads) % 2 !== 0)
    issues.push({ path: 'nHeads', message: `head size dModel/nHeads must be even for rotary embeddings, got ${cfg.dModel / cfg.nHeads}` });
  if (model.qkvBias !== undefined && typeof model.qkvBias !== 'boolean')
    issues.push({ path: 'qkvBias', message: `expected a boolean, got ${String(model.qkvBias)}` });
  if (model.qkNorm !== undefined && typeof model.qkNorm !== 'boolean')
    issues.push({ path: 'qkNorm', message: `expected a boolean, got ${String(model.qkNorm)}` });
  if (cfg.ropeScaling !== undefined) issues.push(...ropeScalingIssues(cfg.ropeScaling));
  if (cfg.nHeads % cfg.nKvHeads !== 0) issues.push({ path: 'nKvHeads', message: `must divide nHeads (${cfg.nHeads}), got ${cfg.nKvHeads}` });
  if (model.vocabSize !== undefined && model.vocabSize !== vocabSize)
    issues.push({ path: 'vocabSize', message: `the tokenizer has ${vocabSize} tokens but the model config says ${model.vocabSize}` });
  if (issues.length)
    throw new ConfigError(
      source,
      issues.map((i) => ({ ...i, path: `${source}.${i.path}` })),
    );
  return cfg;
}

function ropeScalingIssues(s: Llama3RopeScaling): { path: string; message: string }[] {
  if (typeof s !== 'object' || s === null || s.type !== 'llama3')
    return [{ path: 'ropeScaling', message: `expected { type: 'llama3', … }, got ${JSON.stringify(s)}` }];
  const out: { path: string; message: string }[] = [];
  for (const key of ['factor', 'lowFreqFactor', 'highFreqFactor', 'originalMaxPositionEmbeddings'] as const)
    if (!(typeof s[key] === 'number' && s[key] > 0)) out.push({ path: `ropeScaling.${key}`, message: `expected a number > 0, got ${String(s[key])}` });
  if (!out.length && !(s.highFreqFactor > s.lowFreqFactor))
    out.push({ path: 'ropeScaling.highFreqFactor', message: `must exceed lowFreqFactor (${s.lowFreqFactor}), got ${s.highFreqFactor}` });
  return out;
}

/** The size of each attention head: `headDim` when given, else dModel/nHeads. */
export function headDim(cfg: TransformerConfig): number {
  return cfg.headDim ?? cfg.dModel / cfg.nHeads;
}

/** Fields where two architectures differ (`[]` when they compute the same function of the same weights). */
export function architectureDiff(a: TransformerConfig, b: TransformerConfig): { key: keyof TransformerConfig; a: string; b: string }[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])] as (keyof TransformerConfig)[];
  const show = (v: unknown) => (v === undefined ? 'off' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  return keys.filter((k) => show(a[k]) !== show(b[k])).map((key) => ({ key, a: show(a[key]), b: show(b[key]) }));
}
