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

declare module '@grpo/core' {
  interface PolicySections {
    model: Section<typeof modelSchema>;
  }
}

/** A fully resolved architecture: every size known. Stored as `config.json#model` in checkpoints. */
export interface TransformerConfig {
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

/** Fills defaults and checks the sizes fit together; throws a `ConfigError` listing every problem. */
export function resolveModelConfig(model: ModelOptions, vocabSize: number, source = 'policy.model'): TransformerConfig {
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
  if (cfg.dModel % cfg.nHeads !== 0) issues.push({ path: 'nHeads', message: `must divide dModel (${cfg.dModel}), got ${cfg.nHeads}` });
  else if ((cfg.dModel / cfg.nHeads) % 2 !== 0)
    issues.push({ path: 'nHeads', message: `head size dModel/nHeads must be even for rotary embeddings, got ${cfg.dModel / cfg.nHeads}` });
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

export function headDim(cfg: TransformerConfig): number {
  return cfg.dModel / cfg.nHeads;
}
