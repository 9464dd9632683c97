/**
 * The transformer backbone with a scalar head instead of the language-model head: one score per
 * completion token. PPO's critic and the learned reward models are built on it.
 *
 * Alignment says which hidden state scores completion token j:
 * - `before`: the state that predicts token j (position promptLen − 1 + j), as for log-probs; a
 *   critic's V(s_j) before it emits token j.
 * - `after`: the state that has read token j (position promptLen + j); a reward model's score of
 *   the text up to and including token j (the last token for an outcome score).
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CheckpointError, DataError, Rng, type TokenBatch, type Tokenizer } from '@grpo/core';
import { encodeSafetensors, readJsonFile, readSafetensorsFile, writeDirAtomic, type StTensor } from './checkpoint/index.js';
import { resolveModelConfig, type ModelOptions, type TransformerConfig } from './config.js';
import { bmm } from './kernels.js';
import { forwardHidden, initWeights, ropeTables, seqContext, weightShapes, type RopeTables, type WeightMap } from './model.js';
import { tokenizerFiles, type TransformerPolicy } from './policy.js';

export type ScoreAlignment = 'before' | 'after';

export const SCALAR_FORMAT = 'grpo.transformer-scalar';
export const SCALAR_CONFIG_FILE = 'config.json';
export const SCALAR_WEIGHTS_FILE = 'model.safetensors';

interface ScalarCheckpointConfig {
  format: typeof SCALAR_FORMAT;
  version: 1;
  model: TransformerConfig;
  alignment: ScoreAlignment;
}

const HEAD_W = 'score_head.weight';
const HEAD_B = 'score_head.bias';

let instances = 0;

/** Weight names the backbone uses (the language-model head, when untied, is left out). */
function backboneShapes(cfg: TransformerConfig): [string, number[]][] {
  return weightShapes(cfg).filter(([name]) => name !== 'lm_head.weight');
}

export class ScalarHeadModel {
  readonly weights: WeightMap;
  private readonly tables: RopeTables;
  private disposed = false;

  private constructor(
    readonly config: TransformerConfig,
    readonly tokenizer: Tokenizer,
    readonly alignment: ScoreAlignment,
    values: ReadonlyMap<string, Float32Array | tf.Tensor>,
  ) {
    const shapes: [string, number[]][] = [...backboneShapes(config), [HEAD_W, [config.dModel, 1]], [HEAD_B, [1]]];
    const prefix = `scalar${++instances}`;
    this.weights = new Map();
    for (const [name, shape] of shapes) {
      const value = values.get(name);
      if (!value) throw new Error(`missing weight ${name}`);
      // Copies, so a model initialised from a policy never shares (or later moves) the policy's weights.
      this.weights.set(name, tf.tidy(() => tf.variable(value instanceof tf.Tensor ? value.clone() : tf.tensor(value, shape, 'float32'), true, `${prefix}/${name}`)));
    }
    this.tables = ropeTables(config);
  }

  /** A fresh model: seeded backbone (or a copy of `from`'s backbone, e.g. the SFT policy) and a zero-initialised head. */
  static create(options: { tokenizer: Tokenizer; model?: ModelOptions; from?: TransformerPolicy; seed?: number; alignment: ScoreAlignment }): ScalarHeadModel {
    const values = new Map<string, Float32Array | tf.Tensor>();
    let cfg: TransformerConfig;
    if (options.from) {
      cfg = options.from.config;
      for (const [name, v] of options.from.weights) values.set(name, v);
    } else {
      cfg = resolveModelConfig(options.model ?? {}, options.tokenizer.vocabSize);
      for (const [name, v] of initWeights(cfg, options.seed ?? 0)) values.set(name, v);
    }
    // A small random head (not zero) so that scores differ between inputs from the first step.
    const rng = new Rng(`${options.seed ?? 0}:score-head`);
    values.set(HEAD_W, Float32Array.from({ length: cfg.dModel }, () => (rng.next() - 0.5) * 0.02));
    values.set(HEAD_B, new Float32Array(1));
    return new ScalarHeadModel(cfg, options.tokenizer, options.alignment, values);
  }

  /** `[B, Lmax]` scores of the completion tokens (zero at padding); differentiable, call inside `tf.tidy`. */
  scores(batch: TokenBatch): tf.Tensor2D {
    this.checkAlive();
    const cfg = this.config;
    const B = batch.prompts.length;
    if (batch.completions.length !== B) throw new DataError(`TokenBatch has ${B} prompts but ${batch.completions.length} completions`);
    const shift = this.alignment === 'before' ? -1 : 0;
    const rows = batch.prompts.map((p, b) => {
      const c = batch.completions[b]!;
      if (p.length === 0) throw new DataError(`row ${b}: empty prompt (encode prompts with a BOS token)`);
      if (p.length + c.length > cfg.maxSeqLen) throw new DataError(`row ${b}: prompt + completion is ${p.length + c.length} tokens, more than maxSeqLen ${cfg.maxSeqLen}`);
      // `before` never needs the last completion token as input.
      return this.alignment === 'before' ? [...p, ...c].slice(0, p.length + c.length - 1) : [...p, ...c];
    });
    const T = Math.max(1, ...rows.map((r) => r.length));
    const Lmax = Math.max(1, ...batch.completions.map((c) => c.length));
    const ids = new Int32Array(B * T).fill(this.tokenizer.padId);
    const select = new Float32Array(B * T * Lmax);
    rows.forEach((r, b) => {
      ids.set(r, b * T);
      const p = batch.prompts[b]!.length;
      for (let j = 0; j < batch.completions[b]!.length; j++) select[(b * T + p + shift + j) * Lmax + j] = 1;
    });
    return tf.tidy(() => {
      const { hidden } = forwardHidden(cfg, this.weights, ids, seqContext(cfg, this.tables, B, T));
      const perPos = tf.add(tf.matMul(hidden, this.weights.get(HEAD_W)!), this.weights.get(HEAD_B)!); // [B·T, 1]
      return bmm(perPos.reshape([B, 1, T]) as tf.Tensor3D, tf.tensor3d(select, [B, T, Lmax])).reshape([B, Lmax]) as tf.Tensor2D;
    });
  }

  trainableVariables(): tf.Variable[] {
    return [...this.weights.values()];
  }

  /** Writes weights, config and tokenizer atomically into `dir`. */
  async save(dir: string): Promise<void> {
    this.checkAlive();
    const tensors: Record<string, StTensor> = {};
    for (const [name, v] of this.weights) tensors[name] = { dtype: 'F32', shape: [...v.shape], data: Float32Array.from(await v.data()) };
    const cfg: ScalarCheckpointConfig = { format: SCALAR_FORMAT, version: 1, model: this.config, alignment: this.alignment };
    await writeDirAtomic(dir, {
      ...(await tokenizerFiles(this.tokenizer)),
      [SCALAR_CONFIG_FILE]: `${JSON.stringify(cfg, null, 2)}\n`,
      [SCALAR_WEIGHTS_FILE]: encodeSafetensors(tensors, { format: SCALAR_FORMAT }),
    });
  }

  /** Replaces the weights with a checkpoint's written by `save` (same architecture, validated). */
  async load(dir: string): Promise<void> {
    this.checkAlive();
    const { cfg, values } = await readScalarCheckpoint(dir);
    const mismatch = (Object.keys(this.config) as (keyof TransformerConfig)[]).filter((k) => cfg.model[k] !== this.config[k]);
    if (mismatch.length || cfg.alignment !== this.alignment)
      throw new CheckpointError(`${join(dir, SCALAR_CONFIG_FILE)}: architecture differs from this model's (${[...mismatch, ...(cfg.alignment !== this.alignment ? ['alignment'] : [])].join(', ')})`);
    tf.tidy(() => {
      for (const [name, v] of this.weights) v.assign(tf.tensor(values.get(name)!, v.shape, 'float32'));
    });
  }

  /** Loads a model saved by `save`. */
  static async fromCheckpoint(dir: string, tokenizer: Tokenizer): Promise<ScalarHeadModel> {
    const { cfg, values } = await readScalarCheckpoint(dir);
    if (tokenizer.vocabSize !== cfg.model.vocabSize)
      throw new CheckpointError(`${join(dir, SCALAR_CONFIG_FILE)}: vocabSize ${cfg.model.vocabSize} does not match the tokenizer's ${tokenizer.vocabSize} tokens`);
    return new ScalarHeadModel(cfg.model, tokenizer, cfg.alignment, values);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const v of this.weights.values()) v.dispose();
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('this model has been disposed');
  }
}

async function readScalarCheckpoint(dir: string): Promise<{ cfg: ScalarCheckpointConfig; values: Map<string, Float32Array> }> {
  const file = join(dir, SCALAR_CONFIG_FILE);
  const json = await readJsonFile<Partial<ScalarCheckpointConfig>>(file);
  if (json.format !== SCALAR_FORMAT || json.version !== 1 || typeof json.model !== 'object' || json.model === null || (json.alignment !== 'before' && json.alignment !== 'after'))
    throw new CheckpointError(`${file}: not a ${SCALAR_FORMAT} v1 config (expected format, version 1, model and alignment 'before' | 'after')`);
  let model: TransformerConfig;
  try {
    model = resolveModelConfig(json.model, json.model.vocabSize, 'model');
  } catch (error) {
    throw new CheckpointError(`${file}: invalid model config: ${(error as Error).message}`, { cause: error });
  }
  const weightsFile = join(dir, SCALAR_WEIGHTS_FILE);
  const { tensors } = await readSafetensorsFile(weightsFile);
  const expected: [string, number[]][] = [...backboneShapes(model), [HEAD_W, [model.dModel, 1]], [HEAD_B, [1]]];
  const names = new Set(expected.map(([n]) => n));
  const extra = Object.keys(tensors).filter((n) => !names.has(n));
  if (extra.length) throw new CheckpointError(`${weightsFile}: unexpected tensors: ${extra.join(', ')}`);
  const values = new Map<string, Float32Array>();
  for (const [name, shape] of expected) {
    const t = tensors[name];
    if (!t) throw new CheckpointError(`${weightsFile}: missing tensor '${name}' (shape [${shape}])`);
    if (t.dtype !== 'F32' || t.shape.join() !== shape.join())
      throw new CheckpointError(`${weightsFile}: tensor '${name}' is ${t.dtype} [${t.shape}], expected F32 [${shape}]`);
    values.set(name, t.data as Float32Array);
  }
  return { cfg: { ...(json as ScalarCheckpointConfig), model }, values };
}
