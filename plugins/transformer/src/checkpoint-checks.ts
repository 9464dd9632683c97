/**
 * Checks of a transformer checkpoint made before anything is allocated: `config.json#model`'s
 * types and bounds, its consistency with the tensors in `model.safetensors`, and that every
 * weight is finite. Each problem is a `CheckpointError` naming the file (and tensor).
 */
import { CheckpointError, errorMessage, type ConfigIssue } from '@grpo/core';
import type { StTensor } from '@grpo/core/checkpoint';
import { architectureDiff, resolveModelConfig, type ModelOptions, type TransformerConfig } from './config.js';

/**
 * Upper bounds of a checkpoint's sizes: far above what runs on TensorFlow.js, low enough that a
 * corrupt value fails here instead of allocating gigabytes (RoPE tables grow with maxSeqLen).
 */
export const CHECKPOINT_LIMITS = {
  vocabSize: 1 << 22,
  dModel: 1 << 16,
  nLayers: 1024,
  nHeads: 1024,
  nKvHeads: 1024,
  ffnDim: 1 << 20,
  maxSeqLen: 1 << 17,
} as const satisfies Partial<Record<keyof TransformerConfig, number>>;

const INTEGER_MIN: Record<keyof typeof CHECKPOINT_LIMITS, number> = { vocabSize: 2, dModel: 2, nLayers: 1, nHeads: 1, nKvHeads: 1, ffnDim: 1, maxSeqLen: 2 };

const show = (value: unknown): string => (typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value)));

/**
 * `config.json#model` of a checkpoint as a `TransformerConfig`: every present field of the right
 * type and within `CHECKPOINT_LIMITS`, the sizes fitting together (`resolveModelConfig`). Missing
 * fields take the defaults, as before. Throws one `CheckpointError` listing every problem.
 */
export function checkpointModelConfig(model: unknown, file: string): TransformerConfig {
  if (typeof model !== 'object' || model === null || Array.isArray(model))
    throw new CheckpointError(`${file}: 'model' must be an object of architecture sizes, got ${show(model)}`);
  const m = model as Record<string, unknown>;
  const issues: string[] = [];
  for (const [key, max] of Object.entries(CHECKPOINT_LIMITS) as [keyof typeof CHECKPOINT_LIMITS, number][]) {
    const v = m[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < INTEGER_MIN[key] || v > max)
      issues.push(`model.${key}: expected an integer in [${INTEGER_MIN[key]}, ${max}], got ${show(v)}`);
  }
  for (const key of ['ropeBase', 'normEps'] as const) {
    const v = m[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)) issues.push(`model.${key}: expected a finite number > 0, got ${show(v)}`);
  }
  if (m.tiedEmbeddings !== undefined && typeof m.tiedEmbeddings !== 'boolean')
    issues.push(`model.tiedEmbeddings: expected true or false, got ${show(m.tiedEmbeddings)}`);
  if (m.vocabSize === undefined) issues.push('model.vocabSize: missing');
  if (issues.length) throw new CheckpointError(`${file}: invalid model config:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
  try {
    return resolveModelConfig(m, m.vocabSize as number, 'model');
  } catch (error) {
    throw new CheckpointError(`${file}: invalid model config: ${errorMessage(error)}`, { cause: error });
  }
}

/**
 * Checks that the tensors present are those `cfg` describes in number of layers and sizes, before
 * the full list of expected weights (which grows with `nLayers`) is built. `lmHead: 'by-config'`:
 * `lm_head.weight` is present exactly when the embeddings are not tied; `'any'` leaves it to the
 * caller (a scalar-head model keeps the head only when it reads likelihoods).
 */
export function checkTensorsMatchConfig(cfg: TransformerConfig, tensors: Readonly<Record<string, StTensor>>, file: string, lmHead: 'by-config' | 'any'): void {
  const layers = new Set<number>();
  for (const name of Object.keys(tensors)) {
    const match = /^layers\.(\d+)\./.exec(name);
    if (match) layers.add(Number(match[1]));
  }
  const expected = [...layers].every((i) => i < cfg.nLayers) && layers.size === cfg.nLayers;
  if (!expected)
    throw new CheckpointError(
      `${file}: config.json says nLayers ${cfg.nLayers}, but the file holds ${layers.size} layer${layers.size === 1 ? '' : 's'}` +
        (layers.size ? ` (indices ${Math.min(...layers)}–${Math.max(...layers)})` : ''),
    );
  const embed = tensors['embed.weight'];
  if (embed && embed.shape.join() !== [cfg.vocabSize, cfg.dModel].join())
    throw new CheckpointError(
      `${file}: tensor 'embed.weight' has shape [${embed.shape}], config.json implies [${cfg.vocabSize},${cfg.dModel}] (vocabSize, dModel)`,
    );
  if (lmHead === 'by-config') {
    const has = 'lm_head.weight' in tensors;
    if (cfg.tiedEmbeddings && has) throw new CheckpointError(`${file}: holds 'lm_head.weight', but config.json says tiedEmbeddings: true`);
    if (!cfg.tiedEmbeddings && !has) throw new CheckpointError(`${file}: missing tensor 'lm_head.weight' (config.json says tiedEmbeddings: false)`);
  }
}

/** Refuses a weight with NaN or ±Infinity, naming the file, the tensor and the first bad index. */
export function checkFinite(file: string, name: string, data: ArrayLike<number>): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v - v !== 0) {
      let count = 0;
      for (let j = i; j < data.length; j++) if (data[j]! - data[j]! !== 0) count++;
      throw new CheckpointError(
        `${file}: tensor '${name}' holds ${count} non-finite value${count === 1 ? '' : 's'} (first: ${v} at index ${i} of ${data.length}); ` +
          'the checkpoint is corrupt or comes from a run that diverged',
      );
    }
  }
}

/**
 * When a config gives both `policy.model` and `policy.checkpoint`, the architecture `policy.model`
 * describes (defaults filled in) must be the checkpoint's; otherwise it would be silently ignored.
 * Returns the config problem, or undefined when they agree.
 */
export function modelDiffersFromCheckpoint(model: ModelOptions, checkpointConfig: TransformerConfig, checkpoint: string): ConfigIssue | undefined {
  let described: TransformerConfig;
  try {
    described = resolveModelConfig(model, checkpointConfig.vocabSize);
  } catch (error) {
    return { path: 'policy.model', message: `does not fit the checkpoint ${checkpoint}: ${errorMessage(error)}` };
  }
  const differs = architectureDiff(described, checkpointConfig);
  if (!differs.length) return undefined;
  return {
    path: 'policy.model',
    message:
      `describes another architecture than the checkpoint ${checkpoint} (${differs.map((d) => `${d.key} ${d.a} ≠ ${d.b}`).join(', ')}); ` +
      'policy.model only builds a fresh model: remove it when starting from a checkpoint, or make it match',
  };
}
