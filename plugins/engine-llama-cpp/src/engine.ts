/**
 * A rollout engine that samples in process with llama.cpp through node-llama-cpp. Its weights are
 * the policy exported to GGUF (`gguf.ts`) and reloaded after every update; the G completions of a
 * prompt are G sequences of one context, which node-llama-cpp evaluates in shared batches. The
 * log-prob of each sampled token is llama.cpp's own (`confidence`, the probability under the
 * distribution it sampled from), so the trainer measures and corrects the difference.
 */
import { mkdtemp, rm } from 'node:fs/promises';
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
import { getLlama, type Llama, type LlamaContext, type LlamaModel } from 'node-llama-cpp';
import { policyToGguf } from './gguf.js';

export interface LlamaCppEngineOptions {
  /** The engine's name for `generation.engine` (default `llama.cpp`). */
  name?: string;
  /** CPU threads llama.cpp uses (default: node-llama-cpp's choice, all cores). */
  threads?: number;
  /** Directory for the GGUF files (default a temporary one, removed on close). */
  dir?: string;
}

/** What one loaded model serves with. */
interface Loaded {
  model: LlamaModel;
  context: LlamaContext;
  sequences: number;
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
    this.dir ??= this.options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'grpo-llama-cpp-')));
    const file = path.join(this.dir, `policy-${this.version++ % 2}.gguf`);
    let started = performance.now();
    await policyToGguf(policy, file);
    const exportSeconds = (performance.now() - started) / 1000;
    started = performance.now();
    await this.unload();
    const contextSize = policy.maxSeqLen ?? 2048;
    const model = await llama.loadModel({ modelPath: file });
    this.loaded = { model, context: await this.context(model, 1, contextSize), sequences: 1, tokenizer: policy.tokenizer, contextSize };
    this.lastSync = { exportSeconds, loadSeconds: (performance.now() - started) / 1000 };
  }

  private context(model: LlamaModel, sequences: number, contextSize: number): Promise<LlamaContext> {
    return model.createContext({ sequences, contextSize: contextSize * sequences, ...(this.options.threads ? { threads: this.options.threads } : {}) });
  }

  async generate(requests: readonly GenerationRequest[], groupSize: number, options: SamplingOptions): Promise<Completion[][]> {
    const loaded = this.loaded;
    if (!loaded) throw new EngineError(`rollout engine '${this.name}' has no weights yet: syncWeights(policy) loads them`);
    if (loaded.sequences !== groupSize) {
      await loaded.context.dispose();
      loaded.context = await this.context(loaded.model, groupSize, loaded.contextSize);
      loaded.sequences = groupSize;
    }
    const out: Completion[][] = [];
    // One prompt at a time; its G completions are G sequences evaluated together.
    for (const [i, request] of requests.entries()) {
      if (request.ids.length + options.maxNewTokens > loaded.contextSize)
        throw new EngineError(
          `rollout engine '${this.name}': a prompt of ${request.ids.length} tokens + ${options.maxNewTokens} new ones exceeds the model's ${loaded.contextSize}`,
        );
      out.push(
        await Promise.all(Array.from({ length: groupSize }, (_, g) => this.complete(loaded, request.ids, options, (options.seed ?? 0) + i * groupSize + g))),
      );
    }
    return out;
  }

  private async complete(loaded: Loaded, ids: readonly number[], options: SamplingOptions, seed: number): Promise<Completion> {
    const { tokenizer } = loaded;
    const sequence = loaded.context.getSequence();
    const tokenIds: number[] = [];
    const logprobs: number[] = [];
    let finishReason: Completion['finishReason'] = 'length';
    try {
      const evaluation = sequence.evaluateWithMetadata(
        [...ids] as never,
        { confidence: true },
        // topK 0 and topP 1 switch them off (node-llama-cpp's defaults would truncate); minP likewise.
        { temperature: options.temperature, topK: options.topK ?? 0, topP: options.topP ?? 1, minP: 0, seed },
      );
      for await (const { token, confidence } of evaluation) {
        tokenIds.push(token as number);
        logprobs.push(Math.log(confidence));
        if (token === tokenizer.eosId) {
          finishReason = 'eos';
          break;
        }
        if (options.stop?.length) {
          const text = textOf(tokenizer, tokenIds);
          if (options.stop.some((s) => text.endsWith(s))) {
            finishReason = 'stop';
            break;
          }
        }
        if (tokenIds.length >= options.maxNewTokens) break;
      }
    } finally {
      await sequence.dispose();
    }
    return { tokenIds, text: textOf(tokenizer, tokenIds), logprobs, finishReason };
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
