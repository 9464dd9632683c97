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
import { CheckpointError, DataError, GrpoError, Rng, type Policy, type TokenBatch, type Tokenizer } from '@grpo/core';
import { encodeSafetensors, readJsonFile, readSafetensorsFile, writeDirAtomic, type StTensor } from '@grpo/core/checkpoint';
import { architectureDiff, resolveModelConfig, type ModelOptions, type TransformerConfig } from './config.js';
import { bmm } from './kernels.js';
import { forwardHidden, initWeights, lmHead, ropeTables, seqContext, weightShapes, type RopeTables, type WeightMap } from './model.js';
import { checkFinite, checkpointModelConfig, checkTensorsMatchConfig } from './checkpoint-checks.js';
import { tokenizerFiles, TransformerPolicy } from './policy.js';

export type ScoreAlignment = 'before' | 'after';

export const SCALAR_FORMAT = 'grpo.transformer-scalar';
export const SCALAR_CONFIG_FILE = 'config.json';
export const SCALAR_WEIGHTS_FILE = 'model.safetensors';

interface ScalarCheckpointConfig {
  format: typeof SCALAR_FORMAT;
  version: 1;
  model: TransformerConfig;
  alignment: ScoreAlignment;
  /** The score also reads the language model's log-probability of the token (see `ScalarHeadModel.create`). */
  likelihood?: boolean;
}

const HEAD_W = 'score_head.weight';
const HEAD_B = 'score_head.bias';
const HEAD_L = 'score_head.likelihood';
/** Initial bias of a likelihood-reading head (see `create`). */
export const LIKELIHOOD_OFFSET = 5;

let instances = 0;

/** Weight names the model uses: the backbone (with the language-model head only when the score reads likelihoods) and the score head. */
function modelShapes(cfg: TransformerConfig, likelihood: boolean): [string, number[]][] {
  const backbone = weightShapes(cfg).filter(([name]) => likelihood || name !== 'lm_head.weight');
  return [...backbone, [HEAD_W, [cfg.dModel, 1]], [HEAD_B, [1]], ...(likelihood ? ([[HEAD_L, [1]]] as [string, number[]][]) : [])];
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
    readonly likelihood = false,
  ) {
    if (likelihood && alignment !== 'after') throw new Error("a score that reads token likelihoods needs alignment 'after' (the token must have been read)");
    const shapes = modelShapes(config, likelihood);
    const prefix = `scalar${++instances}`;
    this.weights = new Map();
    for (const [name, shape] of shapes) {
      const value = values.get(name);
      if (!value) throw new Error(`missing weight ${name}`);
      // Copies, so a model initialised from a policy never shares (or later moves) the policy's weights.
      this.weights.set(
        name,
        tf.tidy(() => tf.variable(value instanceof tf.Tensor ? value.clone() : tf.tensor(value, shape, 'float32'), true, `${prefix}/${name}`)),
      );
    }
    this.tables = ropeTables(config);
  }

  /**
   * A fresh model: seeded backbone (or a copy of `from`'s backbone, e.g. the SFT policy) and a
   * small random head. With `likelihood` (alignment `after` only) the score of token t is
   * w·h_t + b + a·log p(x_t | x_<t), where the log-probability comes from the model's own
   * language-model head (kept, and trained with the rest), a starts at 1 and b at
   * `LIKELIHOOD_OFFSET` (so σ(score) starts near 1 for likely tokens, 1/2 at p = e^−5): a verifier built on
   * a policy starts from what that policy finds unlikely, instead of having to rediscover it from
   * scalar labels through a fresh head.
   */
  static create(options: {
    tokenizer: Tokenizer;
    model?: ModelOptions;
    from?: Policy;
    seed?: number;
    alignment: ScoreAlignment;
    likelihood?: boolean;
  }): ScalarHeadModel {
    const values = new Map<string, Float32Array | tf.Tensor>();
    let cfg: TransformerConfig;
    if (options.from) {
      if (!(options.from instanceof TransformerPolicy))
        throw new GrpoError('a scalar-head model copies the backbone of a @grpo/plugin-transformer policy only; give model sizes to build one from scratch');
      cfg = options.from.config;
      for (const [name, v] of options.from.weights) values.set(name, v);
    } else {
      cfg = resolveModelConfig(options.model ?? {}, options.tokenizer.vocabSize);
      for (const [name, v] of initWeights(cfg, options.seed ?? 0)) values.set(name, v);
    }
    // A small random head (not zero) so that scores differ between inputs from the first step.
    const rng = new Rng(`${options.seed ?? 0}:score-head`);
    values.set(
      HEAD_W,
      Float32Array.from({ length: cfg.dModel }, () => (rng.next() - 0.5) * 0.02),
    );
    // With likelihoods the bias starts at LIKELIHOOD_OFFSET: a token starts out scored below 0 when
    // the policy gave it a probability below e^−5 ≈ 0.7%.
    values.set(HEAD_B, Float32Array.of(options.likelihood ? LIKELIHOOD_OFFSET : 0));
    if (options.likelihood) values.set(HEAD_L, Float32Array.of(1));
    return new ScalarHeadModel(cfg, options.tokenizer, options.alignment, values, options.likelihood ?? false);
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
      if (p.length + c.length > cfg.maxSeqLen)
        throw new DataError(`row ${b}: prompt + completion is ${p.length + c.length} tokens, more than maxSeqLen ${cfg.maxSeqLen}`);
      // `before` never needs the last completion token as input.
      return this.alignment === 'before' ? [...p, ...c].slice(0, p.length + c.length - 1) : [...p, ...c];
    });
    const T = Math.max(1, ...rows.map((r) => r.length));
    const Lmax = Math.max(1, ...batch.completions.map((c) => c.length));
    const ids = new Int32Array(B * T).fill(this.tokenizer.padId);
    const select = new Float32Array(B * T * Lmax);
    // Likelihood: row t of `next` is the one-hot of token t+1, so position t yields log p(x_{t+1} | x_≤t),
    // which `selectPrev` reads for completion token j at position p + j − 1.
    const next = this.likelihood ? new Float32Array(B * T * cfg.vocabSize) : undefined;
    const selectPrev = this.likelihood ? new Float32Array(B * T * Lmax) : undefined;
    rows.forEach((r, b) => {
      ids.set(r, b * T);
      const p = batch.prompts[b]!.length;
      for (let j = 0; j < batch.completions[b]!.length; j++) {
        select[(b * T + p + shift + j) * Lmax + j] = 1;
        if (next && selectPrev) {
          next[(b * T + p + j - 1) * cfg.vocabSize + r[p + j]!] = 1;
          selectPrev[(b * T + p + j - 1) * Lmax + j] = 1;
        }
      }
    });
    return tf.tidy(() => {
      const { hidden } = forwardHidden(cfg, this.weights, ids, seqContext(cfg, this.tables, B, T));
      const perPos = tf.add(tf.matMul(hidden, this.weights.get(HEAD_W)!), this.weights.get(HEAD_B)!); // [B·T, 1]
      let out = bmm(perPos.reshape([B, 1, T]) as tf.Tensor3D, tf.tensor3d(select, [B, T, Lmax])).reshape([B, Lmax]) as tf.Tensor2D;
      if (next && selectPrev) {
        const logProbs = tf.logSoftmax(lmHead(cfg, this.weights, hidden));
        const nextLogProb = tf.sum(tf.mul(logProbs, tf.tensor2d(next, [B * T, cfg.vocabSize])), 1); // [B·T]
        const picked = bmm(nextLogProb.reshape([B, 1, T]) as tf.Tensor3D, tf.tensor3d(selectPrev, [B, T, Lmax])).reshape([B, Lmax]);
        out = tf.add(out, tf.mul(this.weights.get(HEAD_L)!, picked)) as tf.Tensor2D;
      }
      return out;
    });
  }

  trainableVariables(): tf.Variable[] {
    return [...this.weights.values()];
  }

  /** The score head's own variables (weight, bias and, with likelihoods, the likelihood scale); the rest is the backbone. */
  headVariables(): tf.Variable[] {
    return [HEAD_W, HEAD_B, HEAD_L].flatMap((name) => this.weights.get(name) ?? []);
  }

  /** Writes weights, config and tokenizer atomically into `dir`. */
  async save(dir: string): Promise<void> {
    this.checkAlive();
    const tensors: Record<string, StTensor> = {};
    for (const [name, v] of this.weights) tensors[name] = { dtype: 'F32', shape: [...v.shape], data: Float32Array.from(await v.data()) };
    const cfg: ScalarCheckpointConfig = {
      format: SCALAR_FORMAT,
      version: 1,
      model: this.config,
      alignment: this.alignment,
      ...(this.likelihood ? { likelihood: true } : {}),
    };
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
    const differs = [
      ...architectureDiff(cfg.model, this.config).map((d) => d.key),
      ...(cfg.alignment !== this.alignment ? ['alignment'] : []),
      ...(Boolean(cfg.likelihood) !== this.likelihood ? ['likelihood'] : []),
    ];
    if (differs.length) throw new CheckpointError(`${join(dir, SCALAR_CONFIG_FILE)}: architecture differs from this model's (${differs.join(', ')})`);
    tf.tidy(() => {
      for (const [name, v] of this.weights) v.assign(tf.tensor(values.get(name)!, v.shape, 'float32'));
    });
  }

  /** Loads a model saved by `save`. */
  static async fromCheckpoint(dir: string, tokenizer: Tokenizer): Promise<ScalarHeadModel> {
    const { cfg, values } = await readScalarCheckpoint(dir);
    if (tokenizer.vocabSize !== cfg.model.vocabSize)
      throw new CheckpointError(
        `${join(dir, SCALAR_CONFIG_FILE)}: vocabSize ${cfg.model.vocabSize} does not match the tokenizer's ${tokenizer.vocabSize} tokens`,
      );
    return new ScalarHeadModel(cfg.model, tokenizer, cfg.alignment, values, Boolean(cfg.likelihood));
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
  const json = await readJsonFile<Partial<ScalarCheckpointConfig> | null>(file);
  if (
    typeof json !== 'object' ||
    json === null ||
    json.format !== SCALAR_FORMAT ||
    json.version !== 1 ||
    typeof json.model !== 'object' ||
    json.model === null ||
    (json.alignment !== 'before' && json.alignment !== 'after')
  )
    throw new CheckpointError(`${file}: not a ${SCALAR_FORMAT} v1 config (expected format, version 1, model and alignment 'before' | 'after')`);
  if (json.likelihood !== undefined && typeof json.likelihood !== 'boolean')
    throw new CheckpointError(`${file}: 'likelihood' must be true or false, got ${JSON.stringify(json.likelihood)}`);
  if (json.likelihood && json.alignment !== 'after') throw new CheckpointError(`${file}: 'likelihood' needs alignment 'after'`);
  const model = checkpointModelConfig(json.model, file);
  const weightsFile = join(dir, SCALAR_WEIGHTS_FILE);
  const { tensors } = await readSafetensorsFile(weightsFile);
  checkTensorsMatchConfig(model, tensors, weightsFile, 'any');
  const expected = modelShapes(model, Boolean(json.likelihood));
  const names = new Set(expected.map(([n]) => n));
  const extra = Object.keys(tensors).filter((n) => !names.has(n));
  if (extra.length) throw new CheckpointError(`${weightsFile}: unexpected tensors: ${extra.join(', ')}`);
  const values = new Map<string, Float32Array>();
  for (const [name, shape] of expected) {
    const t = tensors[name];
    if (!t) throw new CheckpointError(`${weightsFile}: missing tensor '${name}' (shape [${shape}])`);
    if (t.dtype !== 'F32' || t.shape.join() !== shape.join())
      throw new CheckpointError(`${weightsFile}: tensor '${name}' is ${t.dtype} [${t.shape}], expected F32 [${shape}]`);
    checkFinite(weightsFile, name, t.data as Float32Array);
    values.set(name, t.data as Float32Array);
  }
  return { cfg: { ...(json as ScalarCheckpointConfig), model }, values };
}
