import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  CheckpointError,
  type Completion,
  type FrozenPolicy,
  type IdCompletion,
  type Policy,
  type SamplingOptions,
  type TokenBatch,
  type TokenLogProbs,
  type Tokenizer,
} from '@grpo/core';
import { loadTokenizer } from '@grpo/plugin-tokenizers';
import { readJsonFile, readSafetensorsFile, writeDirAtomic, encodeSafetensors, type StTensor } from '@grpo/core/checkpoint';
import { checkFinite, checkpointModelConfig, checkTensorsMatchConfig } from './checkpoint-checks.js';
import { architectureDiff, resolveModelConfig, type ModelOptions, type TransformerConfig } from './config.js';
import { decoder, encodePrompt, generate, generateFromIds, type ModelState } from './generate.js';
import { NoTextTokenizer } from './hf/tokenizer.js';
import { tokenLogProbs } from './logprobs.js';
import { initWeights, makeVariables, ropeTables, weightShapes, type WeightMap } from './model.js';

export const WEIGHTS_FILE = 'model.safetensors';
export const CONFIG_FILE = 'config.json';
export const CHECKPOINT_FORMAT = 'grpo.transformer';

/** `config.json` of a transformer checkpoint. */
export interface CheckpointConfig {
  format: typeof CHECKPOINT_FORMAT;
  version: 1;
  model: TransformerConfig;
  /** How prompts start and completions end when that is not the tokenizer's BOS and EOS (models loaded from Hugging Face). */
  conventions?: TokenConventions;
}

/**
 * How a policy turns prompts into ids and when a completion ends, where that differs from the
 * defaults (the tokenizer's BOS before every prompt, its EOS ends a completion). Hugging Face
 * models take both from their files.
 */
export interface TokenConventions {
  /** Ids put before every encoded prompt instead of the tokenizer's BOS; `[]` puts none. */
  promptPrefix?: number[];
  /** More tokens that end a completion, besides the tokenizer's EOS. */
  eosIds?: number[];
}

let instances = 0;

/** The weights of a transformer plus what is needed to run it; shared by the policy and its snapshots. */
abstract class TransformerBase {
  readonly model: ModelState;
  protected disposed = false;

  constructor(
    readonly config: TransformerConfig,
    readonly tokenizer: Tokenizer,
    values: ReadonlyMap<string, Float32Array | tf.Tensor>,
    trainable: boolean,
    readonly conventions: Readonly<TokenConventions>,
  ) {
    const weights = makeVariables(config, values, trainable, `${trainable ? 'policy' : 'frozen'}${++instances}`);
    this.model = { cfg: config, weights, tables: ropeTables(config) };
  }

  get weights(): WeightMap {
    return this.model.weights;
  }

  /** The longest prompt + completion, in tokens (`config.maxSeqLen`). */
  get maxSeqLen(): number {
    return this.config.maxSeqLen;
  }

  tokenLogProbs(batch: TokenBatch, options?: { entropy?: boolean }): TokenLogProbs {
    this.checkAlive();
    return tokenLogProbs(this.model, batch, this.tokenizer.padId, options);
  }

  /** Writes weights, `config.json` and the tokenizer's files atomically into `dir`. */
  async save(dir: string): Promise<void> {
    this.checkAlive();
    const tensors: Record<string, StTensor> = {};
    for (const [name, v] of this.weights) tensors[name] = { dtype: 'F32', shape: [...v.shape], data: Float32Array.from(await v.data()) };
    const { promptPrefix, eosIds } = this.conventions;
    const cfg: CheckpointConfig = {
      format: CHECKPOINT_FORMAT,
      version: 1,
      model: this.config,
      ...(promptPrefix || eosIds ? { conventions: { ...this.conventions } } : {}),
    };
    const files: Record<string, Uint8Array | string> = {
      ...(await tokenizerFiles(this.tokenizer)),
      [CONFIG_FILE]: `${JSON.stringify(cfg, null, 2)}\n`,
      [WEIGHTS_FILE]: encodeSafetensors(tensors, { format: CHECKPOINT_FORMAT }),
    };
    await writeDirAtomic(dir, files);
  }

  /** Replaces the weights with a checkpoint's, after checking its architecture and tokenizer match. */
  async load(dir: string): Promise<void> {
    this.checkAlive();
    const { model: cfg } = await readCheckpoint(dir);
    const mismatch = architectureDiff(cfg, this.config);
    if (mismatch.length)
      throw new CheckpointError(
        `${join(dir, CONFIG_FILE)}: architecture differs from this policy's: ${mismatch.map((d) => `${d.key} ${d.a} ≠ ${d.b}`).join(', ')}`,
      );
    const ours = await tokenizerFiles(this.tokenizer);
    for (const [name, content] of Object.entries(ours)) {
      const theirs = await readFile(join(dir, name)).catch(() => undefined);
      if (!theirs || !Buffer.from(content).equals(theirs)) throw new CheckpointError(`${join(dir, name)}: tokenizer differs from this policy's`);
    }
    const values = await readWeights(dir, cfg);
    tf.tidy(() => {
      for (const [name, v] of this.weights) v.assign(tf.tensor(values.get(name) as Float32Array, v.shape, 'float32'));
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const v of this.weights.values()) v.dispose();
  }

  protected checkAlive(): void {
    if (this.disposed) throw new Error('this policy has been disposed');
  }
}

/**
 * The trainable Llama-style policy. `values` are the weights by name (`weightShapes`); tensors
 * given there are shared, not copied, and stay the caller's to dispose.
 */
export class TransformerPolicy extends TransformerBase implements Policy {
  readonly #eosIds: readonly number[];

  constructor(config: TransformerConfig, tokenizer: Tokenizer, values: ReadonlyMap<string, Float32Array | tf.Tensor>, conventions: TokenConventions = {}) {
    super(config, tokenizer, values, true, conventions);
    // A chat template's end-of-turn token ends a completion as EOS does (an instruct model ends its reply with it).
    const endOfTurn = tokenizer.chatTemplate?.endOfTurnIds ?? [];
    this.#eosIds = [...new Set([...(tokenizer instanceof NoTextTokenizer ? [] : [tokenizer.eosId]), ...(conventions.eosIds ?? []), ...endOfTurn])];
  }

  /** Every token that ends a completion: the tokenizer's EOS, `conventions.eosIds` and the chat template's end-of-turn tokens. */
  get stopTokenIds(): readonly number[] {
    return this.#eosIds;
  }

  /**
   * The ids `generate` conditions on: `conventions.promptPrefix` (default the tokenizer's BOS) +
   * the encoded prompt. The prefix is not added twice: a prompt whose ids already start with it
   * (a chat template that writes `{{ bos_token }}` itself) is used as encoded, as transformers'
   * `apply_chat_template` does.
   */
  encodePrompt(prompt: string): number[] {
    return encodePrompt(this.tokenizer, prompt, this.conventions.promptPrefix);
  }

  generate(prompts: readonly string[], groupSize: number, options: SamplingOptions): Promise<Completion[][]> {
    this.checkAlive();
    return generate(this.model, this.tokenizer, prompts, groupSize, options, { encode: (p) => this.encodePrompt(p), eosIds: this.#eosIds });
  }

  /**
   * `generate` for prompts given as token ids, used as they are (no BOS added); works without a
   * tokenizer (`text` is then null). Used by `grpo sample --ids`.
   */
  generateFromIds(prompts: readonly (readonly number[])[], groupSize: number, options: SamplingOptions): Promise<IdCompletion[][]> {
    this.checkAlive();
    const tokenizer = this.tokenizer;
    const decode = tokenizer instanceof NoTextTokenizer ? undefined : decoder(tokenizer);
    return generateFromIds(this.model, prompts, groupSize, options, { eosIds: this.#eosIds, padId: tokenizer.padId, decode });
  }

  /** Like `generate`, but recomputing the whole prefix at every step (no KV cache); for tests and benchmarks. */
  generateNoCache(prompts: readonly string[], groupSize: number, options: SamplingOptions): Promise<Completion[][]> {
    this.checkAlive();
    return generate(this.model, this.tokenizer, prompts, groupSize, options, { encode: (p) => this.encodePrompt(p), eosIds: this.#eosIds, useCache: false });
  }

  trainableVariables(): tf.Variable[] {
    return [...this.weights.values()];
  }

  snapshot(): FrozenTransformerPolicy {
    this.checkAlive();
    return new FrozenTransformerPolicy(this.config, this.tokenizer, this.weights, this.conventions);
  }
}

/** A frozen copy of a policy's weights (π_old, π_ref). */
export class FrozenTransformerPolicy extends TransformerBase implements FrozenPolicy {
  constructor(config: TransformerConfig, tokenizer: Tokenizer, values: ReadonlyMap<string, Float32Array | tf.Tensor>, conventions: TokenConventions = {}) {
    super(config, tokenizer, values, false, conventions);
  }

  syncFrom(source: Policy, alpha = 1): void {
    this.checkAlive();
    if (!(source instanceof TransformerPolicy)) throw new TypeError('syncFrom: the source is not a TransformerPolicy');
    if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`syncFrom: alpha must be in [0, 1], got ${alpha}`);
    tf.tidy(() => {
      for (const [name, v] of this.weights) {
        const src = source.weights.get(name);
        if (!src || src.shape.join() !== v.shape.join()) throw new TypeError(`syncFrom: the source has no weight ${name} of shape [${v.shape}]`);
        v.assign(alpha === 1 ? src : tf.add(tf.mul(src, alpha), tf.mul(v, 1 - alpha)));
      }
    });
  }
}

/** A fresh policy with deterministic seeded weights. */
export function createPolicy(options: { model?: ModelOptions; tokenizer: Tokenizer; seed?: number }): TransformerPolicy {
  const cfg = resolveModelConfig(options.model ?? {}, options.tokenizer.vocabSize);
  return new TransformerPolicy(cfg, options.tokenizer, initWeights(cfg, options.seed ?? 0));
}

/** Loads a policy from a checkpoint directory written by `save`. */
export async function loadPolicy(dir: string): Promise<TransformerPolicy> {
  const { model: cfg, conventions } = await readCheckpoint(dir);
  const tokenizer = await loadTokenizer(dir);
  // Hugging Face models (the ones with `conventions`) may have more embedding rows than tokens.
  if (conventions ? tokenizer.vocabSize > cfg.vocabSize : tokenizer.vocabSize !== cfg.vocabSize)
    throw new CheckpointError(`${join(dir, CONFIG_FILE)}: vocabSize ${cfg.vocabSize} does not match the tokenizer's ${tokenizer.vocabSize} tokens`);
  return new TransformerPolicy(cfg, tokenizer, await readWeights(dir, cfg), conventions);
}

async function readCheckpoint(dir: string): Promise<{ model: TransformerConfig; conventions?: TokenConventions }> {
  const file = join(dir, CONFIG_FILE);
  const json = await readJsonFile<Partial<CheckpointConfig> | null>(file);
  if (
    typeof json !== 'object' ||
    json === null ||
    json.format !== CHECKPOINT_FORMAT ||
    json.version !== 1 ||
    typeof json.model !== 'object' ||
    json.model === null
  )
    throw new CheckpointError(`${file}: not a ${CHECKPOINT_FORMAT} v1 config (expected { "format": "${CHECKPOINT_FORMAT}", "version": 1, "model": {…} })`);
  const model = checkpointModelConfig(json.model, file);
  const { conventions } = json;
  if (conventions === undefined) return { model };
  const ids = (v: unknown) => v === undefined || (Array.isArray(v) && v.every((id) => Number.isInteger(id) && id >= 0 && id < model.vocabSize));
  if (typeof conventions !== 'object' || conventions === null || !ids(conventions.promptPrefix) || !ids(conventions.eosIds))
    throw new CheckpointError(`${file}: conventions must be { promptPrefix?, eosIds? }, each a list of token ids below ${model.vocabSize}`);
  return { model, conventions };
}

async function readWeights(dir: string, cfg: TransformerConfig): Promise<Map<string, Float32Array>> {
  const file = join(dir, WEIGHTS_FILE);
  const { tensors } = await readSafetensorsFile(file);
  checkTensorsMatchConfig(cfg, tensors, file, 'by-config');
  const expected = weightShapes(cfg);
  const names = new Set(expected.map(([n]) => n));
  const extra = Object.keys(tensors).filter((n) => !names.has(n));
  if (extra.length) throw new CheckpointError(`${file}: unexpected tensors for this config.json: ${extra.join(', ')}`);
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of expected) {
    const t = tensors[name];
    if (!t) throw new CheckpointError(`${file}: missing tensor '${name}' (shape [${shape}])`);
    if (t.dtype !== 'F32') throw new CheckpointError(`${file}: tensor '${name}' has dtype ${t.dtype}, expected F32`);
    if (t.shape.join() !== shape.join()) throw new CheckpointError(`${file}: tensor '${name}' has shape [${t.shape}], config.json implies [${shape}]`);
    checkFinite(file, name, t.data as Float32Array);
    out.set(name, t.data as Float32Array);
  }
  return out;
}

/** The files `tokenizer.save` writes, read back (so they can go into one atomic directory write). */
export async function tokenizerFiles(tokenizer: Tokenizer): Promise<Record<string, Uint8Array>> {
  const tmp = await mkdtemp(join(tmpdir(), 'grpo-tok-'));
  try {
    await tokenizer.save(tmp);
    const out: Record<string, Uint8Array> = {};
    for (const name of await readdir(tmp)) out[name] = await readFile(join(tmp, name));
    return out;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
