/**
 * A rollout engine over an OpenAI-compatible server: one `/v1/completions` request per prompt with
 * the prompt's token ids and `n` = G, asking for the sampled tokens' ids and log-probs (vLLM's
 * `return_token_ids`, `return_tokens_as_token_ids` and `logprobs: 0`). Requests are bounded by a
 * timeout, retried with exponential backoff on network errors, 408, 429 and 5xx, and at most
 * `concurrency` are in flight. Weight sync writes the policy to a shared directory and asks the
 * server to reload it (SGLang's and `grpo serve`'s `/update_weights_from_disk`), or, for a policy
 * that trains LoRA adapters, writes the adapters alone (`Policy.saveAdapter`) and has the server
 * load them (vLLM's and `grpo serve`'s `/v1/load_lora_adapter`).
 */
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
  type SyncOptions,
} from '@grpo/core';

/** How the engine brings the server's weights up to the policy's. */
export type WeightSync =
  | { readonly kind: 'none' }
  | {
      /** `policy.save(dir/step-N)` on a filesystem the server shares, then POST `endpoint` `{ model_path }`. */
      readonly kind: 'checkpoint';
      readonly dir: string;
      readonly endpoint?: string;
    }
  | {
      /**
       * The adapters alone into `dir/step-N` (`saveAdapter`, by default the policy's own
       * `Policy.saveAdapter`), then POST `endpoint` `{ lora_name, lora_path }`; requests then name
       * the adapter (`<name>-<N>`) as `model`.
       */
      readonly kind: 'lora';
      readonly dir: string;
      readonly saveAdapter?: (policy: Policy, dir: string) => Promise<void>;
      readonly name?: string;
      readonly endpoint?: string;
    };

export interface OpenAiEngineOptions {
  /** The server's address, e.g. `http://127.0.0.1:8000` (without `/v1`). */
  baseUrl: string;
  /** `model` of every request (the server's model name); absent: not sent. */
  model?: string;
  /** The engine's name for `generation.engine` (default `openai-http`). */
  name?: string;
  /** Per-request timeout in ms (default 120 000). */
  timeoutMs?: number;
  /** Retries after a failed attempt (default 3). */
  retries?: number;
  /** Wait before the first retry in ms, doubled for each next one (default 250). */
  backoffMs?: number;
  /** Requests in flight at most (default 4). */
  concurrency?: number;
  /**
   * What the server's `logprobs` are: `raw` (the model's full softmax at temperature 1, vLLM's
   * default `raw_logprobs`) or `processed` (the distribution sampled from: `grpo serve`, vLLM's
   * `processed_logprobs`). Raw ones are reported as `Completion.rawLogprobs` too.
   */
  logprobs?: 'raw' | 'processed';
  /** Weight sync (default none: the server keeps the weights it has). */
  sync?: WeightSync;
  /** Extra fields of every completions request (e.g. vLLM's `repetition_penalty`, `skip_special_tokens`). */
  extraBody?: Readonly<Record<string, unknown>>;
}

/** A failure worth another attempt: the network, a timeout, 408, 429 or 5xx. */
class Retryable extends Error {}

/** At most `limit` calls of `run` at once. */
function limiter(limit: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(run: () => Promise<T>): Promise<T> => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await run();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** vLLM gives ids as `token_ids` (`return_token_ids`) or as `token_id:N` strings (`return_tokens_as_token_ids`). */
function tokenIdsOf(choice: Record<string, unknown>): number[] | undefined {
  if (Array.isArray(choice.token_ids)) return choice.token_ids as number[];
  const tokens = (choice.logprobs as { tokens?: unknown } | null)?.tokens;
  if (!Array.isArray(tokens)) return undefined;
  const ids = tokens.map((t) => (typeof t === 'string' && t.startsWith('token_id:') ? Number(t.slice(9)) : NaN));
  return ids.every(Number.isInteger) ? ids : undefined;
}

export class OpenAiEngine implements RolloutEngine {
  readonly name: string;
  private readonly options: Required<Omit<OpenAiEngineOptions, 'model' | 'name' | 'extraBody'>> & Pick<OpenAiEngineOptions, 'model' | 'extraBody'>;
  private readonly limit: ReturnType<typeof limiter>;
  private syncs = 0;
  /** The LoRA adapter requests name once one is loaded. */
  private adapter: string | undefined;

  constructor(options: OpenAiEngineOptions) {
    this.name = options.name ?? 'openai-http';
    this.options = {
      timeoutMs: 120_000,
      retries: 3,
      backoffMs: 250,
      concurrency: 4,
      logprobs: 'raw',
      sync: { kind: 'none' },
      ...options,
      baseUrl: options.baseUrl.replace(/\/+$/, ''),
    };
    this.limit = limiter(this.options.concurrency);
  }

  /** POSTs (or GETs, without a body) JSON with timeout and retries; the answer's JSON, or an EngineError naming the engine, URL and last failure. */
  private async call(route: string, body?: unknown, signal?: AbortSignal): Promise<Record<string, unknown>> {
    const url = `${this.options.baseUrl}${route}`;
    let last = '';
    for (let attempt = 0; attempt <= this.options.retries; attempt++) {
      if (attempt > 0) await sleep(this.options.backoffMs * 2 ** (attempt - 1));
      if (signal?.aborted) break;
      try {
        const timeout = AbortSignal.timeout(this.options.timeoutMs);
        const response = await fetch(url, {
          method: body === undefined ? 'GET' : 'POST',
          headers: { 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
        const text = await response.text();
        if (response.ok) return text ? (JSON.parse(text) as Record<string, unknown>) : {};
        const message = `HTTP ${response.status}${text ? `: ${text.slice(0, 300)}` : ''}`;
        if (response.status === 408 || response.status === 429 || response.status >= 500) throw new Retryable(message);
        throw new EngineError(`rollout engine '${this.name}': ${url} answered ${message}`);
      } catch (error) {
        if (error instanceof EngineError) throw error;
        last = error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${this.options.timeoutMs} ms` : errorMessage(error);
      }
    }
    throw new EngineError(
      `rollout engine '${this.name}': ${url} failed ${signal?.aborted ? '(aborted)' : `after ${this.options.retries + 1} attempts`}: ${last}. Is the server running at ${this.options.baseUrl}?`,
    );
  }

  async generate(requests: readonly GenerationRequest[], groupSize: number, options: SamplingOptions): Promise<Completion[][]> {
    return Promise.all(requests.map((request, i) => this.limit(() => this.group(request, groupSize, options, (options.seed ?? 0) + i))));
  }

  private async group(request: GenerationRequest, n: number, options: SamplingOptions, seed: number): Promise<Completion[]> {
    const model = this.adapter ?? this.options.model;
    const answer = await this.call('/v1/completions', {
      ...(model ? { model } : {}),
      prompt: request.ids,
      n,
      max_tokens: options.maxNewTokens,
      temperature: options.temperature,
      ...(options.topK ? { top_k: options.topK } : {}),
      ...(options.topP !== undefined ? { top_p: options.topP } : {}),
      ...(options.stop?.length ? { stop: options.stop, include_stop_str_in_output: true } : {}),
      seed,
      logprobs: 0,
      return_token_ids: true,
      return_tokens_as_token_ids: true,
      ...this.options.extraBody,
    });
    const choices = answer.choices;
    if (!Array.isArray(choices) || choices.length !== n)
      throw new EngineError(
        `rollout engine '${this.name}' got ${Array.isArray(choices) ? choices.length : 'no'} choices for n = ${n} from ${this.options.baseUrl}`,
      );
    return (choices as Record<string, unknown>[])
      .sort((a, b) => (a.index as number) - (b.index as number))
      .map((choice) => {
        const tokenIds = tokenIdsOf(choice);
        const logprobs = (choice.logprobs as { token_logprobs?: unknown } | null)?.token_logprobs;
        if (!tokenIds || !Array.isArray(logprobs) || logprobs.length !== tokenIds.length)
          throw new EngineError(
            `rollout engine '${this.name}': the server at ${this.options.baseUrl} returned no token ids or no per-token log-probs ` +
              '(it must honour `return_token_ids` or `return_tokens_as_token_ids`, and `logprobs`)',
          );
        // OpenAI's 'stop' covers EOS and stop strings; vLLM's stop_reason tells them apart (a string: a stop string).
        const finishReason = choice.finish_reason === 'length' ? 'length' : typeof choice.stop_reason === 'string' ? 'stop' : 'eos';
        const values = logprobs as number[];
        return {
          tokenIds,
          text: typeof choice.text === 'string' ? choice.text : '',
          logprobs: values,
          ...(this.options.logprobs === 'raw' ? { rawLogprobs: values } : {}),
          finishReason,
        };
      });
  }

  async syncWeights(policy: Policy, { signal }: SyncOptions): Promise<void> {
    const sync = this.options.sync;
    if (sync.kind === 'none') return;
    const dir = path.resolve(sync.dir, `step-${this.syncs++}`);
    if (sync.kind === 'checkpoint') {
      await policy.save(dir);
      await this.call(sync.endpoint ?? '/update_weights_from_disk', { model_path: dir }, signal);
      return;
    }
    const save = sync.saveAdapter ?? (policy.saveAdapter && ((p: Policy, d: string) => p.saveAdapter!(d)));
    if (!save)
      throw new EngineError(
        `rollout engine '${this.name}': weight sync 'lora' sends the policy's LoRA adapters, and this policy trains all its weights: set policy.lora, or use sync 'checkpoint'`,
      );
    await save(policy, dir);
    const name = `${sync.name ?? 'grpo'}-${this.syncs}`;
    await this.call(sync.endpoint ?? '/v1/load_lora_adapter', { lora_name: name, lora_path: dir }, signal);
    this.adapter = name;
  }

  async health(): Promise<EngineHealth> {
    try {
      await this.call('/health');
      return { ok: true, detail: this.options.baseUrl };
    } catch (error) {
      return { ok: false, detail: errorMessage(error) };
    }
  }
}
