import { join, mkdtemp, readdir, readFile, readJsonFile, readSafetensorsFile, rm, tmpdir, writeDirAtomic } from '#node-io';
import * as tf from '@tensorflow/tfjs';
import {
  CheckpointError,
  GrpoError,
  type Completion,
  type FrozenPolicy,
  type IdCompletion,
  type Policy,
  type SamplingOptions,
  type TokenBatch,
  type TokenLogProbs,
  type Tokenizer,
  type TurnSession,
} from '@grpo/core';
import { loadTokenizer, TOKENIZER_FILE, tokenizerFromJson } from '@grpo/plugin-tokenizers';
import { decodeSafetensors, encodeSafetensors, type StTensor } from '@grpo/core/checkpoint';
import { checkFinite, checkpointModelConfig, checkTensorsMatchConfig } from './checkpoint-checks.js';
import { architectureDiff, resolveModelConfig, type ModelOptions, type TransformerConfig } from './config.js';
import { decoder, encodePrompt, generate, generateFromIds, type ModelState } from './generate.js';
import { ADAPTER_CONFIG_FILE, peftFiles, readPeftConfig, readPeftWeights } from './hf/peft.js';
import { NoTextTokenizer } from './hf/tokenizer.js';
import { tokenLogProbs } from './logprobs.js';
import { TurnCache } from './turns.js';
import {
  adapterDelta,
  adapterValues,
  initAdapterValues,
  loraDiff,
  loraScale,
  makeAdapters,
  mergedWeight,
  resolveLoraConfig,
  type AdapterMap,
  type AdapterValues,
  type LoraConfig,
} from './lora.js';
import { initWeights, makeVariables, ropeTables, weightShapes, type WeightMap } from './model.js';
import { hasDecodeAttention } from './kernels.js';
import {
  adapterParameterCount,
  checkFits,
  describeModel,
  generationBytes,
  heapRoom,
  parameterCount,
  passBytes,
  projectionBytes,
  type PassOptions,
} from './memory.js';

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
  /** A LoRA policy's adapter setup; the adapters are beside the weights in PEFT's files (`adapter_model.safetensors`). */
  lora?: LoraConfig;
}

/** A LoRA policy's adapters: their setup, values, and the seed of their dropout masks. */
export interface LoraInit {
  config: LoraConfig;
  /** Adapter values; fresh ones (`initAdapterValues(…, seed)`) when absent. */
  values?: AdapterValues;
  seed?: number;
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
    checkPassMemory(this.config, batch, { trainableParams: 0, entropy: !!options?.entropy });
    return tokenLogProbs(this.model, batch, this.tokenizer.padId, options);
  }

  /** Writes weights, `config.json` and the tokenizer's files atomically into `dir`. */
  async save(dir: string): Promise<void> {
    await writeDirAtomic(dir, await this.checkpointFiles());
  }

  /** The files of a checkpoint of these weights (and of `lora`'s adapters, when given). */
  protected async checkpointFiles(lora?: { config: LoraConfig; values: AdapterValues }): Promise<Record<string, Uint8Array | string>> {
    this.checkAlive();
    const tensors: Record<string, StTensor> = {};
    for (const [name, v] of this.weights) tensors[name] = { dtype: 'F32', shape: [...v.shape], data: Float32Array.from(await v.data()) };
    const { promptPrefix, eosIds } = this.conventions;
    const cfg: CheckpointConfig = {
      format: CHECKPOINT_FORMAT,
      version: 1,
      model: this.config,
      ...(promptPrefix || eosIds ? { conventions: { ...this.conventions } } : {}),
      ...(lora ? { lora: lora.config } : {}),
    };
    return {
      ...(await tokenizerFiles(this.tokenizer)),
      [CONFIG_FILE]: `${JSON.stringify(cfg, null, 2)}\n`,
      [WEIGHTS_FILE]: encodeSafetensors(tensors, { format: CHECKPOINT_FORMAT }),
      ...(lora ? peftFiles(this.config, lora.config, lora.values) : {}),
    };
  }

  /** Replaces the weights with a checkpoint's, after checking its architecture and tokenizer match. */
  async load(dir: string): Promise<void> {
    this.checkAlive();
    const { model: cfg, lora } = await readCheckpoint(dir);
    this.checkLora(dir, lora);
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

  /** Refuses a checkpoint whose adapters (or their absence) do not match this policy's. */
  protected checkLora(dir: string, lora: LoraConfig | undefined): void {
    if (lora)
      throw new CheckpointError(
        `${join(dir, CONFIG_FILE)}: the checkpoint holds LoRA adapters but this policy has none; set policy.lora as in the run that wrote it`,
      );
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
  /** A LoRA policy's adapters (the base weights are then frozen). */
  readonly #lora: { config: LoraConfig; adapters: AdapterMap; seed: number } | undefined;
  /**
   * A LoRA policy's adapters alone, in PEFT's files (`adapter_config.json`,
   * `adapter_model.safetensors`): all that changes from one update to the next, what rollout
   * engines and workers are sent (core's `Policy.saveAdapter`). Absent without adapters.
   */
  readonly saveAdapter?: (dir: string) => Promise<void>;
  /** Replaces the adapters with PEFT files of the same setup (r, alpha, modules); the base weights stay. Absent without adapters. */
  readonly loadAdapter?: (dir: string) => Promise<void>;

  /**
   * With `lora` only its adapters train (`trainableVariables`); the base weights are frozen and
   * shared with `referencePolicy()`.
   */
  constructor(
    config: TransformerConfig,
    tokenizer: Tokenizer,
    values: ReadonlyMap<string, Float32Array | tf.Tensor>,
    conventions: TokenConventions = {},
    lora?: LoraInit,
  ) {
    super(config, tokenizer, values, !lora, conventions);
    // A chat template's end-of-turn token ends a completion as EOS does (an instruct model ends its reply with it).
    const endOfTurn = tokenizer.chatTemplate?.endOfTurnIds ?? [];
    this.#eosIds = [...new Set([...(tokenizer instanceof NoTextTokenizer ? [] : [tokenizer.eosId]), ...(conventions.eosIds ?? []), ...endOfTurn])];
    if (lora) {
      const seed = lora.seed ?? 0;
      const adapters = makeAdapters(config, lora.config, lora.values ?? initAdapterValues(config, lora.config, seed), true, `lora${++instances}`);
      this.#lora = { config: lora.config, adapters, seed };
      this.model.lora = adapterDelta(adapters, loraScale(lora.config));
      this.saveAdapter = async (dir) => {
        this.checkAlive();
        await writeDirAtomic(dir, peftFiles(this.config, lora.config, await adapterValues(adapters)));
      };
      this.loadAdapter = async (dir) => {
        this.checkAlive();
        const diff = loraDiff(await readPeftConfig(dir), lora.config);
        if (diff.length)
          throw new CheckpointError(`${join(dir, ADAPTER_CONFIG_FILE)}: this adapter differs from the policy's policy.lora (${diff.join(', ')})`);
        this.#assignAdapters(await readPeftWeights(dir, this.config, lora.config));
      };
    }
  }

  /** The LoRA setup, when this policy trains adapters. */
  get lora(): LoraConfig | undefined {
    return this.#lora?.config;
  }

  /** The adapter variables by base weight name (`A` `[in, r]`, `B` `[r, out]`), when this policy trains adapters. */
  get adapters(): ReadonlyMap<string, { a: tf.Variable; b: tf.Variable }> | undefined {
    return this.#lora?.adapters;
  }

  /** Differentiable log-probs; a LoRA policy with dropout drops its adapters' inputs here (masks seeded by the batch's tokens). */
  override tokenLogProbs(batch: TokenBatch, options?: { entropy?: boolean }): TokenLogProbs {
    this.checkAlive();
    const lora = this.#lora;
    checkPassMemory(this.config, batch, {
      trainableParams: lora ? adapterParameterCount(this.config, lora.config) : parameterCount(this.config),
      entropy: !!options?.entropy,
      trainableEmbedding: !lora,
      optimizerResident: this.#optimizerResident(),
      ...(lora ? { lora: lora.config } : {}),
    });
    if (!lora || lora.config.dropout === 0) return tokenLogProbs(this.model, batch, this.tokenizer.padId, options);
    const scale = loraScale(lora.config);
    return tokenLogProbs(this.model, batch, this.tokenizer.padId, options, (ids) => adapterDelta(lora.adapters, scale, lora.config.dropout, ids, lora.seed));
  }

  /**
   * Whether AdamW's moments for the trainable variables exist already, for the memory check: they
   * are made at the first update, which gives the first trainable variable new data.
   */
  #optimizerResident(): boolean {
    const first = this.trainableVariables()[0];
    if (!first) return true;
    this.#initialData ??= first.dataId;
    return first.dataId !== this.#initialData;
  }
  #initialData: object | undefined;

  /** Refuses, before it runs, a generation the wasm heap cannot hold (memory.ts): a rejected promise, or undefined when it fits. */
  #checkGeneration(promptIds: readonly (readonly number[])[], groupSize: number, options: SamplingOptions): Promise<never> | undefined {
    const room = heapRoom(projectionBytes(this.config));
    if (!room || promptIds.length === 0) return undefined;
    const promptLength = Math.max(...promptIds.map((p) => p.length));
    const maxNewTokens = Math.max(1, Math.min(options.maxNewTokens, this.config.maxSeqLen - promptLength));
    const shape = {
      groupSize,
      promptLength,
      maxNewTokens,
      preallocated: hasDecodeAttention(),
      transposedHead: room.backend === 'wasm' && this.config.tiedEmbeddings,
      ...(this.#lora ? { lora: this.#lora.config } : {}),
    };
    try {
      checkFits(
        room,
        `sampling ${promptIds.length} prompts × G ${groupSize} of ${promptLength} + ${maxNewTokens} tokens with ${describeModel(this.config)}`,
        promptIds.length,
        (n) => generationBytes(this.config, { ...shape, prompts: n }).total,
        (n, fits) =>
          n === undefined
            ? 'even one prompt does not fit; lower generation.maxNewTokens or train.groupSize, or use a smaller model'
            : `sample at most ${n} prompts at a time (${fits}; train.promptsPerStep, or the evaluation's batch), or lower generation.maxNewTokens`,
      );
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return undefined;
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
    const refused = this.#checkGeneration(
      prompts.map((p) => this.encodePrompt(p)),
      groupSize,
      options,
    );
    if (refused) return refused;
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
    const refused = this.#checkGeneration(prompts, groupSize, options);
    if (refused) return refused;
    return generateFromIds(this.model, prompts, groupSize, options, { eosIds: this.#eosIds, padId: tokenizer.padId, decode });
  }

  /** A multi-turn session that carries each trajectory's KV cache from turn to turn (turns.ts). */
  openTurns(): TurnSession {
    this.checkAlive();
    const tokenizer = this.tokenizer;
    const decode = tokenizer instanceof NoTextTokenizer ? undefined : decoder(tokenizer);
    return new TurnCache(this.model, { eosIds: this.#eosIds, padId: tokenizer.padId, decode });
  }

  /** Like `generate`, but recomputing the whole prefix at every step (no KV cache); for tests and benchmarks. */
  generateNoCache(prompts: readonly string[], groupSize: number, options: SamplingOptions): Promise<Completion[][]> {
    this.checkAlive();
    return generate(this.model, this.tokenizer, prompts, groupSize, options, { encode: (p) => this.encodePrompt(p), eosIds: this.#eosIds, useCache: false });
  }

  /** All weights; for a LoRA policy only the adapters (`A`, `B` of each adapted weight, in checkpoint order). */
  trainableVariables(): tf.Variable[] {
    if (this.#lora) return [...this.#lora.adapters.values()].flatMap(({ a, b }) => [a, b]);
    return [...this.weights.values()];
  }

  /** A frozen copy (it shares the tensors until the policy's next update); a LoRA policy's snapshot shares the frozen base and copies only the adapters. */
  snapshot(): FrozenPolicy {
    this.checkAlive();
    if (this.#lora) return new LoraReferencePolicy(this, this.#lora.config, this.#lora.adapters);
    return new FrozenTransformerPolicy(this.config, this.tokenizer, this.weights, this.conventions);
  }

  /** π_ref: for a LoRA policy the base model with the adapters off, sharing its weights (no copy); otherwise `snapshot()`. */
  referencePolicy(): FrozenPolicy {
    this.checkAlive();
    if (this.#lora) return new LoraReferencePolicy(this, this.#lora.config);
    return this.snapshot();
  }

  /** Weights, config and tokenizer; a LoRA policy adds its adapters in PEFT's files (`adapter_config.json`, `adapter_model.safetensors`). */
  override async save(dir: string): Promise<void> {
    await writeDirAtomic(dir, await this.files());
  }

  /**
   * The files `save` writes, in memory (name → content), for callers without a file system: a
   * browser offers them as a download; `policyFromFiles` reads them back.
   */
  async files(): Promise<Record<string, Uint8Array | string>> {
    const lora = this.#lora;
    return this.checkpointFiles(lora && { config: lora.config, values: await adapterValues(lora.adapters) });
  }

  /** Replaces the weights (and a LoRA policy's adapters) with a checkpoint's. */
  override async load(dir: string): Promise<void> {
    await super.load(dir);
    const lora = this.#lora;
    if (!lora) return;
    this.#assignAdapters(await readPeftWeights(dir, this.config, lora.config));
  }

  #assignAdapters(values: AdapterValues): void {
    tf.tidy(() => {
      for (const [name, { a, b }] of this.#lora!.adapters) {
        const v = values.get(name)!;
        a.assign(tf.tensor(v.a, a.shape, 'float32'));
        b.assign(tf.tensor(v.b, b.shape, 'float32'));
      }
    });
  }

  protected override checkLora(dir: string, lora: LoraConfig | undefined): void {
    const ours = this.#lora?.config;
    if (!ours) return super.checkLora(dir, lora);
    const file = join(dir, CONFIG_FILE);
    if (!lora)
      throw new CheckpointError(`${file}: the checkpoint holds no LoRA adapters but this policy trains some (policy.lora); resume with the same config`);
    const diff = loraDiff(lora, ours);
    if (diff.length)
      throw new CheckpointError(`${file}: the checkpoint's adapters differ from this policy's (${diff.join(', ')}); use the policy.lora it was written with`);
  }

  /**
   * The weights with the adapters merged in (`W + (alpha/r)·A·B`), as tensors the caller
   * disposes; for a policy without adapters, copies of its weights.
   */
  mergedWeights(): Map<string, tf.Tensor> {
    this.checkAlive();
    const lora = this.#lora;
    const scale = lora ? loraScale(lora.config) : 0;
    const out = new Map<string, tf.Tensor>();
    for (const [name, v] of this.weights) {
      const ad = lora?.adapters.get(name);
      out.set(
        name,
        tf.tidy(() => (ad ? mergedWeight(v, ad, scale) : tf.clone(v))),
      );
    }
    return out;
  }

  /** A plain policy (no adapters) whose weights are this one's with the adapters merged in. */
  merge(): TransformerPolicy {
    const merged = this.mergedWeights();
    try {
      return new TransformerPolicy(this.config, this.tokenizer, merged, this.conventions);
    } finally {
      tf.dispose([...merged.values()]);
    }
  }

  /** A LoRA policy on these weights (shared, not copied): fresh adapters of `lora` (seeded by `seed`), or `values`. Disposes this policy. */
  withLora(lora: LoraConfig, seed = 0, values?: AdapterValues): TransformerPolicy {
    this.checkAlive();
    if (this.#lora) throw new Error('withLora: this policy already has adapters');
    const out = new TransformerPolicy(this.config, this.tokenizer, this.weights, this.conventions, { config: lora, seed, ...(values ? { values } : {}) });
    this.dispose();
    return out;
  }

  override dispose(): void {
    if (this.disposed) return;
    super.dispose();
    if (this.#lora) for (const { a, b } of this.#lora.adapters.values()) tf.dispose([a, b]);
  }
}

const LORA_REFERENCE_FILE = 'lora-reference.json';
const LORA_REFERENCE_FORMAT = 'grpo.transformer.lora-reference';

/**
 * A LoRA policy's frozen view (π_ref, π_old): the policy's own base weights — the same
 * variables, never copied — with the adapters off, or with a frozen copy of the adapters
 * (`snapshot()`, or after `syncFrom`). Disposing it frees only its adapter copy.
 */
export class LoraReferencePolicy implements FrozenPolicy {
  #adapters: AdapterMap | undefined;
  #disposed = false;

  constructor(
    readonly policy: TransformerPolicy,
    readonly lora: LoraConfig,
    adapters?: ReadonlyMap<string, { a: tf.Tensor; b: tf.Tensor }>,
  ) {
    if (adapters) this.#adapters = frozenAdapters(adapters);
  }

  /** Whether the adapters are on (a copy of them); off, this is the base model. */
  get adaptersOn(): boolean {
    return this.#adapters !== undefined;
  }

  tokenLogProbs(batch: TokenBatch, options?: { entropy?: boolean }): TokenLogProbs {
    this.checkAlive();
    const { model } = this.policy;
    const state = {
      cfg: model.cfg,
      weights: model.weights,
      tables: model.tables,
      ...(this.#adapters ? { lora: adapterDelta(this.#adapters, loraScale(this.lora)) } : {}),
    };
    checkPassMemory(model.cfg, batch, { trainableParams: 0, entropy: !!options?.entropy, ...(this.#adapters ? { lora: this.lora } : {}) });
    return tokenLogProbs(state, batch, this.policy.tokenizer.padId, options);
  }

  /** Takes a frozen copy of `source`'s adapters (the base is already shared). Mixing (`alpha` < 1, TR-DPO) is refused: a mix of two low-rank updates is not one. */
  syncFrom(source: Policy, alpha = 1): void {
    this.checkAlive();
    if (source !== this.policy) throw new TypeError('syncFrom: a LoRA reference follows the policy it was made from');
    if (alpha !== 1)
      throw new GrpoError(
        `TR-DPO's reference mixing (alpha ${alpha}) is not supported with policy.lora: the mix of two low-rank adapters is not low-rank; use a periodic reset (refResetEvery) instead`,
      );
    const adapters = this.policy.adapters!;
    const old = this.#adapters;
    this.#adapters = frozenAdapters(adapters);
    if (old) disposeAdapters(old);
  }

  /** `lora-reference.json` (whether the adapters are on) and, when on, the adapters in PEFT's files. */
  async save(dir: string): Promise<void> {
    this.checkAlive();
    const on = this.#adapters !== undefined;
    await writeDirAtomic(dir, {
      [LORA_REFERENCE_FILE]: `${JSON.stringify({ format: LORA_REFERENCE_FORMAT, version: 1, adapters: on }, null, 2)}\n`,
      ...(on ? peftFiles(this.policy.config, this.lora, await adapterValues(this.#adapters!)) : {}),
    });
  }

  async load(dir: string): Promise<void> {
    this.checkAlive();
    const file = join(dir, LORA_REFERENCE_FILE);
    const json = await readJsonFile<{ format?: unknown; version?: unknown; adapters?: unknown }>(file);
    if (json?.format !== LORA_REFERENCE_FORMAT || json.version !== 1 || typeof json.adapters !== 'boolean')
      throw new CheckpointError(`${file}: not a LoRA reference (expected { "format": "${LORA_REFERENCE_FORMAT}", "version": 1, "adapters": true|false })`);
    const values = json.adapters ? await readPeftWeights(dir, this.policy.config, this.lora) : undefined;
    if (this.#adapters) disposeAdapters(this.#adapters);
    this.#adapters = values && makeAdapters(this.policy.config, this.lora, values, false, `lora-ref${++instances}`);
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.#adapters) disposeAdapters(this.#adapters);
  }

  private checkAlive(): void {
    if (this.#disposed) throw new Error('this reference policy has been disposed');
  }
}

/**
 * Refuses, before it runs, a log-prob pass over `batch` that the wasm heap cannot hold beside what
 * is in use (memory.ts), saying which `train.microBatchSize` fits. A pass under a gradient tape
 * is a training pass (its activations are kept for the backward pass, gradients and AdamW's state
 * are added); otherwise `pass.trainableParams` is ignored. Off the wasm-heap backends it does nothing.
 */
function checkPassMemory(cfg: TransformerConfig, batch: TokenBatch, pass: PassOptions): void {
  const room = heapRoom(projectionBytes(cfg));
  const rows = batch.prompts.length;
  if (!room || rows === 0) return;
  const training = tf.engine().isTapeOn() && pass.trainableParams > 0;
  const transposedHead = room.backend === 'wasm' && cfg.tiedEmbeddings;
  // The pass reads every token of the longest row but its last (logprobs.ts `packBatch`).
  const length = Math.max(1, ...batch.prompts.map((p, b) => p.length + (batch.completions[b]?.length ?? 0) - 1));
  const options: PassOptions = { ...pass, trainableParams: training ? pass.trainableParams : 0, transposedHead };
  checkFits(
    room,
    `${training ? 'a training pass' : 'a log-prob pass'} of ${rows} × ${length + 1} tokens through ${describeModel(cfg)}`,
    rows,
    (n) => passBytes(cfg, n, length, options).total,
    (n, fits) =>
      n === undefined
        ? `even one sequence of ${length + 1} tokens does not fit; shorten the sequences (generation.maxNewTokens, the prompts) or use a smaller model`
        : `set train.microBatchSize to ${n} (${fits}; sequences per pass, the gradient is accumulated exactly)`,
  );
}

/** Frozen variables sharing `adapters`' current tensors (no copy until the originals are updated). */
function frozenAdapters(adapters: ReadonlyMap<string, { a: tf.Tensor; b: tf.Tensor }>): AdapterMap {
  const tag = `lora-frozen${++instances}`;
  return new Map(
    [...adapters].map(([name, { a, b }]) => [name, { a: tf.variable(a, false, `${tag}/${name}.lora_a`), b: tf.variable(b, false, `${tag}/${name}.lora_b`) }]),
  );
}

function disposeAdapters(adapters: AdapterMap): void {
  for (const { a, b } of adapters.values()) tf.dispose([a, b]);
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
  const { model: cfg, conventions, lora } = await readCheckpoint(dir);
  const tokenizer = await loadTokenizer(dir);
  // Hugging Face models (the ones with `conventions`) may have more embedding rows than tokens.
  if (conventions ? tokenizer.vocabSize > cfg.vocabSize : tokenizer.vocabSize !== cfg.vocabSize)
    throw new CheckpointError(`${join(dir, CONFIG_FILE)}: vocabSize ${cfg.vocabSize} does not match the tokenizer's ${tokenizer.vocabSize} tokens`);
  const weights = await readWeights(dir, cfg);
  if (!lora) return new TransformerPolicy(cfg, tokenizer, weights, conventions);
  return new TransformerPolicy(cfg, tokenizer, weights, conventions, { config: lora, values: await readPeftWeights(dir, cfg, lora) });
}

/**
 * A policy from a checkpoint's files in memory (name → bytes, as `TransformerPolicy.files()` gives
 * them): `config.json`, `model.safetensors` and `tokenizer.json`, checked as `loadPolicy` checks a
 * directory. For a browser, which has no directory; LoRA checkpoints need `loadPolicy`.
 * `source` names the checkpoint in errors.
 */
export async function policyFromFiles(files: Readonly<Record<string, Uint8Array>>, source = '(checkpoint files)'): Promise<TransformerPolicy> {
  const file = (name: string) => {
    const bytes = files[name];
    if (!bytes) throw new CheckpointError(`${join(source, name)}: missing (a checkpoint has ${CONFIG_FILE}, ${WEIGHTS_FILE} and ${TOKENIZER_FILE})`);
    return bytes;
  };
  const json = (name: string): unknown => {
    try {
      return JSON.parse(new TextDecoder().decode(file(name))) as unknown;
    } catch (error) {
      if (error instanceof CheckpointError) throw error;
      throw new CheckpointError(`${join(source, name)}: malformed JSON: ${(error as Error).message}`, { cause: error });
    }
  };
  const { model: cfg, conventions, lora } = checkpointConfig(json(CONFIG_FILE), join(source, CONFIG_FILE));
  if (lora) throw new CheckpointError(`${join(source, CONFIG_FILE)}: a LoRA checkpoint; load it from its directory with loadPolicy`);
  const tokenizer = await tokenizerFromJson(json(TOKENIZER_FILE), join(source, TOKENIZER_FILE));
  if (conventions ? tokenizer.vocabSize > cfg.vocabSize : tokenizer.vocabSize !== cfg.vocabSize)
    throw new CheckpointError(`${join(source, CONFIG_FILE)}: vocabSize ${cfg.vocabSize} does not match the tokenizer's ${tokenizer.vocabSize} tokens`);
  const weightsFile = join(source, WEIGHTS_FILE);
  const { tensors } = decodeSafetensors(file(WEIGHTS_FILE), weightsFile);
  return new TransformerPolicy(cfg, tokenizer, checkedWeights(tensors, cfg, weightsFile), conventions);
}

async function readCheckpoint(dir: string): Promise<{ model: TransformerConfig; conventions?: TokenConventions; lora?: LoraConfig }> {
  const file = join(dir, CONFIG_FILE);
  return checkpointConfig(await readJsonFile<unknown>(file), file);
}

/** `config.json` of a checkpoint, validated (`file` is named in errors). */
function checkpointConfig(value: unknown, file: string): { model: TransformerConfig; conventions?: TokenConventions; lora?: LoraConfig } {
  const json = value as Partial<CheckpointConfig> | null;
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
  const lora = json.lora === undefined ? undefined : checkpointLora(json.lora, file);
  const { conventions } = json;
  if (conventions === undefined) return { model, ...(lora ? { lora } : {}) };
  const ids = (v: unknown) => v === undefined || (Array.isArray(v) && v.every((id) => Number.isInteger(id) && id >= 0 && id < model.vocabSize));
  if (typeof conventions !== 'object' || conventions === null || !ids(conventions.promptPrefix) || !ids(conventions.eosIds))
    throw new CheckpointError(`${file}: conventions must be { promptPrefix?, eosIds? }, each a list of token ids below ${model.vocabSize}`);
  return { model, conventions, ...(lora ? { lora } : {}) };
}

/** `config.json#lora`, validated like `policy.lora` (plus rsLoRA scaling, which adapters read from PEFT files may have). */
function checkpointLora(value: unknown, file: string): LoraConfig {
  const { rslora, ...rest } = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  try {
    if (rslora !== undefined && typeof rslora !== 'boolean') throw new Error(`rslora must be true or false, got ${JSON.stringify(rslora)}`);
    return { ...resolveLoraConfig(rest as never), ...(rslora ? { rslora: true } : {}) };
  } catch (error) {
    throw new CheckpointError(`${file}: lora must be { r, alpha, dropout, targetModules } as in policy.lora: ${(error as Error).message.slice(0, 300)}`);
  }
}

async function readWeights(dir: string, cfg: TransformerConfig): Promise<Map<string, Float32Array>> {
  const file = join(dir, WEIGHTS_FILE);
  const { tensors } = await readSafetensorsFile(file);
  return checkedWeights(tensors, cfg, file);
}

/** The weights of `tensors`, checked against the config (names, shapes, dtype, finite values). */
function checkedWeights(tensors: Record<string, StTensor>, cfg: TransformerConfig, file: string): Map<string, Float32Array> {
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
  // The tokenizers that can say their files in memory (what their `save` writes) need no directory.
  const inMemory = (tokenizer as Partial<{ toFiles(): Record<string, string> }>).toFiles;
  if (typeof inMemory === 'function')
    return Object.fromEntries(Object.entries(inMemory.call(tokenizer)).map(([name, text]) => [name, new TextEncoder().encode(text)]));
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
