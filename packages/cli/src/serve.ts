/**
 * `grpo serve`: an OpenAI-compatible completions server over any policy (the one the config's
 * policy plugin builds), for evaluating checkpoints with OpenAI clients and as the real server the
 * HTTP rollout engine is tested against. It speaks the subset of vLLM's `/v1/completions` a
 * token-in/token-out RL client needs (docs/engines.md lists the fields), plus SGLang's
 * `/update_weights_from_disk` so a trainer can make it reload a checkpoint it wrote, and vLLM's
 * `/v1/load_lora_adapter` for a policy that trains LoRA adapters (the trainer sends the adapters
 * alone). The server holds one adapter at a time, on its base: requests name it as `model`.
 *
 * Requests are served one at a time (one model, one sampler): the policy is not re-entrant.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage, GrpoError, type Completion, type IdCompletion, type Policy, type SamplingOptions } from '@grpo/core';

export interface ServeOptions {
  /** The model name clients send (`model`) and `/v1/models` lists. */
  model: string;
  /** Sampling defaults for fields a request leaves out (OpenAI's `max_tokens` default is 16). */
  maxTokens?: number;
  /** Seed of requests that give none. */
  seed?: number;
  /** Each request, in one line (method, path, status, seconds). */
  log?: (line: string) => void;
}

/** An error with the HTTP status and OpenAI error type it is answered with. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;

const isIds = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x) && (x as number) >= 0);

/** OpenAI's `prompt`: a string, a list of token ids, or a list of either. */
function promptsOf(prompt: unknown): (string | number[])[] {
  if (typeof prompt === 'string' || isIds(prompt)) return [prompt];
  if (Array.isArray(prompt) && prompt.length > 0 && prompt.every((p) => typeof p === 'string' || isIds(p))) return prompt as (string | number[])[];
  throw new HttpError(400, '`prompt` must be a string, a list of token ids, or a non-empty list of these');
}

function numberField(body: Json, key: string, fallback: number | undefined, check: (x: number) => boolean, says: string): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !check(v)) throw new HttpError(400, `\`${key}\` must be ${says}, got ${JSON.stringify(v)}`);
  return v;
}

/** The sampling options of one request (vLLM's names: `top_k` −1 or 0 is off). */
export function samplingFromRequest(body: Json, options: ServeOptions): SamplingOptions & { n: number } {
  if (body.stream === true) throw new HttpError(400, '`stream` is not supported by grpo serve');
  const stop = body.stop === undefined || body.stop === null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
  if (!Array.isArray(stop) || !stop.every((s) => typeof s === 'string' && s.length > 0))
    throw new HttpError(400, '`stop` must be a string or a list of strings');
  const topK = numberField(body, 'top_k', undefined, (x) => Number.isInteger(x) && x >= -1, 'an integer ≥ −1');
  const topP = numberField(body, 'top_p', undefined, (x) => x > 0 && x <= 1, 'in (0, 1]');
  return {
    n: numberField(body, 'n', 1, (x) => Number.isInteger(x) && x >= 1 && x <= 256, 'an integer in [1, 256]')!,
    maxNewTokens: numberField(body, 'max_tokens', options.maxTokens ?? 16, (x) => Number.isInteger(x) && x >= 1, 'an integer ≥ 1')!,
    temperature: numberField(body, 'temperature', 1, (x) => x >= 0, 'a number ≥ 0')!,
    ...(topK && topK > 0 ? { topK } : {}),
    ...(topP !== undefined && topP < 1 ? { topP } : {}),
    stop: stop as string[],
    seed: numberField(body, 'seed', options.seed ?? 0, (x) => Number.isInteger(x) && x >= 0, 'an integer ≥ 0'),
  };
}

/** One OpenAI choice for a completion; `index` is prompt-major (`p·n + g`), as vLLM numbers them. */
function choiceOf(c: Completion | IdCompletion, index: number, stop: readonly string[], body: Json): Json {
  const text = c.text ?? '';
  const stopReason = c.finishReason === 'stop' ? (stop.find((s) => text.endsWith(s)) ?? null) : null;
  const tokens = body.return_tokens_as_token_ids === true ? c.tokenIds.map((id) => `token_id:${id}`) : c.tokenIds.map(String);
  const wantsLogprobs = body.logprobs !== undefined && body.logprobs !== null && body.logprobs !== false;
  return {
    index,
    text,
    finish_reason: c.finishReason === 'length' ? 'length' : 'stop',
    stop_reason: stopReason,
    ...(body.return_token_ids === true ? { token_ids: c.tokenIds } : {}),
    logprobs: wantsLogprobs ? { tokens, token_logprobs: c.logprobs, top_logprobs: null, text_offset: null } : null,
  };
}

/** The server; `listen` it on a port. Completions run one at a time. */
export function completionServer(policy: Policy, options: ServeOptions): http.Server {
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };
  let served = 0;
  /** The LoRA adapter loaded last (`lora_name`), and the names it replaced. */
  let adapter: string | undefined;
  const replaced = new Set<string>();
  const current = () => adapter ?? options.model;

  const checkModel = (model: unknown) => {
    if (typeof model !== 'string' || model === current()) return;
    if (model === options.model)
      throw new HttpError(
        400,
        `The base model \`${model}\` is not served alone while the LoRA adapter \`${adapter}\` is loaded (grpo serve holds one adapter on its base): request \`${adapter}\``,
      );
    if (replaced.has(model))
      throw new HttpError(404, `The LoRA adapter \`${model}\` was replaced by \`${current()}\` (grpo serve holds one adapter at a time)`, 'NotFoundError');
    throw new HttpError(404, `The model \`${model}\` does not exist (this server serves \`${current()}\`)`, 'NotFoundError');
  };

  const completions = async (body: Json): Promise<Json> => {
    checkModel(body.model);
    const prompts = promptsOf(body.prompt);
    const { n, ...sampling } = samplingFromRequest(body, options);
    const groups = await serial(async () =>
      Promise.all(
        prompts.map(async (p) => {
          if (typeof p === 'string') return (await policy.generate([p], n, sampling))[0]!;
          if (!policy.generateFromIds) throw new HttpError(400, 'this policy cannot take prompts as token ids (its plugin has no generateFromIds)');
          return (await policy.generateFromIds([p], n, sampling))[0]!;
        }),
      ),
    );
    const promptTokens = prompts.reduce((a, p) => a + (typeof p === 'string' ? policy.encodePrompt(p).length : p.length), 0);
    const completionTokens = groups.flat().reduce((a, c) => a + c.tokenIds.length, 0);
    return {
      id: `cmpl-${++served}`,
      object: 'text_completion',
      created: Math.floor(Date.now() / 1000),
      model: current(),
      choices: groups.flatMap((group, p) => group.map((c, g) => choiceOf(c, p * n + g, sampling.stop ?? [], body))),
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    };
  };

  const reload = async (body: Json): Promise<Json> => {
    if (typeof body.model_path !== 'string' || !body.model_path) throw new HttpError(400, '`model_path` must name a checkpoint directory');
    const dir = body.model_path;
    await serial(() => policy.load(dir));
    // The checkpoint (adapters and all) is now the model served under the base name.
    if (adapter !== undefined) replaced.add(adapter);
    adapter = undefined;
    return { success: true, message: `loaded ${dir}` };
  };

  const loadAdapter = async (body: Json): Promise<Json> => {
    const { lora_name: name, lora_path: dir } = body;
    if (typeof name !== 'string' || !name || typeof dir !== 'string' || !dir)
      throw new HttpError(400, '`lora_name` must name the adapter and `lora_path` its directory (adapter_config.json, adapter_model.safetensors)');
    if (name === options.model) throw new HttpError(400, `\`lora_name\` must differ from the base model's name \`${options.model}\``);
    if (!policy.loadAdapter)
      throw new HttpError(
        400,
        "this server's policy has no LoRA adapters to load into: serve a checkpoint trained with policy.lora, or a config that sets policy.lora",
      );
    await serial(() => policy.loadAdapter!(dir));
    if (adapter !== undefined && adapter !== name) replaced.add(adapter);
    replaced.delete(name);
    adapter = name;
    return { success: true, message: `LoRA adapter '${name}' loaded from ${dir}` };
  };

  const routes: Record<string, (body: Json) => Promise<Json>> = {
    'GET /health': async () => ({ status: 'ok' }),
    'GET /v1/models': async () => ({
      object: 'list',
      data: [
        { id: options.model, object: 'model', owned_by: 'grpo', root: options.model, parent: null },
        ...(adapter ? [{ id: adapter, object: 'model', owned_by: 'grpo', root: adapter, parent: options.model }] : []),
      ],
    }),
    'POST /v1/completions': completions,
    'POST /update_weights_from_disk': reload,
    'POST /v1/load_lora_adapter': loadAdapter,
  };

  return http.createServer((req, res) => {
    const started = performance.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = (status: number, payload: Json) => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
        options.log?.(`${req.method} ${req.url} ${status} ${((performance.now() - started) / 1000).toFixed(3)} s`);
      };
      const route = routes[`${req.method} ${(req.url ?? '').split('?')[0]}`];
      if (!route) return answer(404, { error: { message: `no route ${req.method} ${req.url}`, type: 'NotFoundError', code: 404 } });
      let body: Json = {};
      try {
        const raw = Buffer.concat(chunks).toString('utf8');
        if (raw) body = JSON.parse(raw) as Json;
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('not an object');
      } catch {
        return answer(400, { error: { message: 'the request body must be a JSON object', type: 'invalid_request_error', code: 400 } });
      }
      route(body).then(
        (payload) => answer(200, payload),
        (error: unknown) => {
          const status = error instanceof HttpError ? error.status : error instanceof GrpoError ? 400 : 500;
          const type = error instanceof HttpError ? error.type : status === 400 ? 'invalid_request_error' : 'InternalServerError';
          answer(status, { error: { message: errorMessage(error), type, code: status } });
        },
      );
    });
  });
}

/** Listens on `host:port` (0 picks a free port) and resolves with the address clients use. */
export async function listen(server: http.Server, host: string, port: number): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}
