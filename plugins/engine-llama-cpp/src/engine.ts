/**
 * A rollout engine that samples in process with llama.cpp through node-llama-cpp. Its weights are
 * the policy exported to GGUF (`gguf.ts`) and reloaded after every update; the G completions of a
 * prompt are G sequences of one context, which node-llama-cpp evaluates in shared batches. The
 * log-prob of each sampled token is llama.cpp's own (`confidence`, the probability under the
 * distribution it sampled from), so the trainer measures and corrects the difference.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  EngineError,
  errorMessage,
  type Completion,
  type EngineHealth,
  type GenerationRequest,
  type Policy,
  type RolloutEngine,
  type SamplingOptions,
  type Tokenizer,
} from '@grpo/core';
import { getLlama, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaModel } from 'node-llama-cpp';
import { policyToGguf, type GgmlType } from './gguf.js';

export interface LlamaCppEngineOptions {
  /** The engine's name for `generation.engine` (default `llama.cpp`). */
  name?: string;
  /** CPU threads llama.cpp uses (default: node-llama-cpp's choice, all cores). */
  threads?: number;
  /** Directory for the GGUF files (default a temporary one, removed on close). */
  dir?: string;
  /**
   * Weight type of the exported GGUF (default `F32`). `Q8_0` is ggml's 8-bit block quantisation:
   * a ~3.8× smaller file and faster matrix products, with probabilities that differ from the
   * trainer's by more than float noise (the off-policy correction's case); `Q4_0`, its 4-bit one,
   * ~7× smaller and much further from the trainer's numbers.
   */
  weightType?: GgmlType;
}

/** What one loaded model serves with. */
interface Loaded {
  model: LlamaModel;
  context: LlamaContext;
  /** The context's sequences, in id order (sequences[g] has id g). */
  sequences: LlamaContextSequence[];
  tokenizer: Tokenizer;
  contextSize: number;
}

/** The completion's text, or '' for a policy whose tokenizer cannot decode (a model that takes token ids only). */
function textOf(tokenizer: Tokenizer, ids: readonly number[]): string {
  try {
    return tokenizer.decode(ids, { skipSpecial: true });
  } catch {
    return '';
  }
}

export class LlamaCppEngine implements RolloutEngine {
  readonly name: string;
  private readonly options: LlamaCppEngineOptions;
  private llama: Llama | undefined;
  private loaded: Loaded | undefined;
  private dir: string | undefined;
  private version = 0;
  /** Seconds of the last sync: export to GGUF, and llama.cpp's load. */
  lastSync: { exportSeconds: number; loadSeconds: number } | undefined;

  constructor(options: LlamaCppEngineOptions = {}) {
    this.name = options.name ?? 'llama.cpp';
    this.options = options;
  }

  private async runtime(): Promise<Llama> {
    try {
      // Prebuilt CPU binaries only: nothing is downloaded or compiled at run time.
      this.llama ??= await getLlama({ gpu: false, build: 'never' });
    } catch (error) {
      throw new EngineError(`rollout engine '${this.name}': node-llama-cpp's prebuilt llama.cpp binary did not load: ${errorMessage(error)}`, { cause: error });
    }
    return this.llama;
  }

  async health(): Promise<EngineHealth> {
    try {
      const llama = await this.runtime();
      return { ok: true, detail: `llama.cpp ${llama.buildType} (${llama.cpuMathCores} cores)` };
    } catch (error) {
      return { ok: false, detail: errorMessage(error) };
    }
  }

  /** Exports the policy to GGUF and (re)loads it; the previous model is freed. */
  async syncWeights(policy: Policy): Promise<void> {
    const llama = await this.runtime();
    if (!this.dir) {
      this.dir = this.options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'grpo-llama-cpp-')));
      await mkdir(this.dir, { recursive: true });
    }
    const file = path.join(this.dir, `policy-${this.version++ % 2}.gguf`);
    let started = performance.now();
    await policyToGguf(policy, file, { type: this.options.weightType ?? 'F32' });
    const exportSeconds = (performance.now() - started) / 1000;
    started = performance.now();
    await this.unload();
    const contextSize = policy.maxSeqLen ?? 2048;
    const model = await llama.loadModel({ modelPath: file });
    const context = await this.context(model, 1, contextSize);
    this.loaded = { model, context, sequences: [context.getSequence()], tokenizer: policy.tokenizer, contextSize };
    this.lastSync = { exportSeconds, loadSeconds: (performance.now() - started) / 1000 };
  }

  /** A context of `sequences` sequences of `contextSize` cells each (node-llama-cpp's `contextSize` is per sequence). */
  private context(model: LlamaModel, sequences: number, contextSize: number): Promise<LlamaContext> {
    return model.createContext({ sequences, contextSize, ...(this.options.threads ? { threads: this.options.threads } : {}) });
  }

  async generate(requests: readonly GenerationRequest[], groupSize: number, options: SamplingOptions): Promise<Completion[][]> {
    const loaded = this.loaded;
    if (!loaded) throw new EngineError(`rollout engine '${this.name}' has no weights yet: syncWeights(policy) loads them`);
    if (loaded.sequences.length !== groupSize) {
      await loaded.context.dispose();
      loaded.context = await this.context(loaded.model, groupSize, loaded.contextSize);
      // A fresh context hands out sequence ids 0, 1, … in getSequence order: sequences[g] has id g.
      loaded.sequences = Array.from({ length: groupSize }, () => loaded.context.getSequence());
    }
    const out: Completion[][] = [];
    // One prompt at a time; its G completions are G sequences evaluated together.
    for (const [i, request] of requests.entries()) {
      if (request.ids.length + options.maxNewTokens > loaded.contextSize)
        throw new EngineError(
          `rollout engine '${this.name}': a prompt of ${request.ids.length} tokens + ${options.maxNewTokens} new ones exceeds the model's ${loaded.contextSize}`,
        );
      out.push(await this.group(loaded, request.ids, options, (options.seed ?? 0) + i * groupSize));
    }
    return out;
  }

  /**
   * The G completions of one prompt, sequence g sampled with seed `seed + g`. The sequences advance
   * in lockstep, each step's next tokens requested in ascending sequence id, so that every batch
   * node-llama-cpp sends to llama.cpp lists its sequences in id order. Why: llama.cpp (non-unified
   * KV cache, one stream per sequence) computes a batch whose sequences are out of id order in
   * several micro-batches and reorders the output rows lazily, inside the first `llama_get_logits*`
   * call after the decode (`output_reorder`), which is not thread-safe — and node-llama-cpp samples
   * the batch's sequences in parallel worker threads. Two samplers reordering at once leave two
   * sequences with each other's logits: a token the model gives e^-16 sampled at a probability near
   * 1 (the mismatch_kl outlier of bench:engines, and the regression case in `engine.test.ts`). In id
   * order no reorder is needed, so none can race.
   */
  private async group(loaded: Loaded, ids: readonly number[], options: SamplingOptions, seed: number): Promise<Completion[]> {
    const { tokenizer, sequences } = loaded;
    const completions = sequences.map(() => ({ tokenIds: [] as number[], logprobs: [] as number[], finishReason: 'length' as Completion['finishReason'] }));
    const iterators = sequences.map((sequence, g) =>
      sequence.evaluateWithMetadata(
        [...ids] as never,
        { confidence: true },
        // topK 0 and topP 1 switch them off (node-llama-cpp's defaults would truncate); minP likewise.
        // yieldEogToken: node-llama-cpp otherwise ends on EOS without yielding it, so the completion
        // would lack its EOS (and its log-prob) and read as cut at the length limit.
        { temperature: options.temperature, topK: options.topK ?? 0, topP: options.topP ?? 1, minP: 0, seed: seed + g, yieldEogToken: true },
      ),
    );
    let active = sequences.map((_, g) => g);
    try {
      while (active.length) {
        // Each next() reaches its decode request after the same number of microtask turns, so the
        // requests queue in this order; node-llama-cpp dispatches the batch on a later macrotask.
        const steps = await Promise.all(active.map((g) => iterators[g]!.next()));
        const still: number[] = [];
        steps.forEach((step, k) => {
          const g = active[k]!;
          const c = completions[g]!;
          if (step.done) return;
          const { token, confidence } = step.value;
          c.tokenIds.push(token as number);
          c.logprobs.push(Math.log(confidence!));
          if (token === tokenizer.eosId) c.finishReason = 'eos';
          else if (options.stop?.length && options.stop.some((stop) => textOf(tokenizer, c.tokenIds).endsWith(stop))) c.finishReason = 'stop';
          else if (c.tokenIds.length < options.maxNewTokens) still.push(g);
        });
        active = still;
      }
    } finally {
      await Promise.all(iterators.map((it) => it.return()));
      await Promise.all(sequences.map((sequence) => sequence.clearHistory()));
    }
    return completions.map((c) => ({ ...c, text: textOf(tokenizer, c.tokenIds) }));
  }

  private async unload(): Promise<void> {
    const loaded = this.loaded;
    this.loaded = undefined;
    if (!loaded) return;
    await loaded.context.dispose();
    await loaded.model.dispose();
  }

  async close(): Promise<void> {
    await this.unload();
    if (this.dir && !this.options.dir) await rm(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}
