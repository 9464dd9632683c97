/**
 * @grpo/plugin-engine-openai: a rollout engine that samples from an OpenAI-compatible server
 * (vLLM, SGLang, llama-server, `grpo serve`) by token ids. Choose it with
 * `generation.engine: openai-http`; the off-policy correction (`generation.correction`) is then on
 * by default, since the server's numbers are not the trainer's.
 */
import path from 'node:path';
import { configPath, definePlugin, RolloutEngine } from '@grpo/core';
import { z } from 'zod';
import { OpenAiEngine } from './engine.js';

export { OpenAiEngine, type OpenAiEngineOptions, type WeightSync } from './engine.js';

export const meta = { name: '@grpo/plugin-engine-openai', version: '0.1.0', core: '^0.1.0' } as const;

export const openAiEngineOptionsSchema = z
  .strictObject({
    baseUrl: z.url().describe('The server, e.g. http://127.0.0.1:8000 (without /v1).'),
    model: z.string().min(1).optional().describe('`model` of every request.'),
    name: z.string().min(1).default('openai-http').describe('The engine name `generation.engine` selects.'),
    timeoutMs: z.number().int().positive().default(120_000).describe('Per-request timeout (ms).'),
    retries: z.number().int().min(0).default(3).describe('Retries after a failed attempt (network, 408, 429, 5xx).'),
    backoffMs: z.number().min(0).default(250).describe('Wait before the first retry, doubled for each next one (ms).'),
    concurrency: z.number().int().positive().default(4).describe('Requests in flight at most.'),
    logprobs: z.enum(['raw', 'processed']).default('raw').describe("What the server's logprobs are: vLLM's raw_logprobs (default) or processed_logprobs."),
    sync: z
      .enum(['none', 'checkpoint', 'lora'])
      .default('none')
      .describe(
        'Weight sync: none; checkpoint (save the policy to syncDir, then POST syncEndpoint {model_path}); or lora (save only the LoRA adapters of a policy.lora policy to syncDir, then POST syncEndpoint {lora_name, lora_path} and request that adapter).',
      ),
    syncDir: z.string().min(1).optional().describe('Directory the server can read, for sync: checkpoint or lora (default <outputDir>/engine-weights).'),
    syncEndpoint: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Endpoint of the sync: default /update_weights_from_disk (checkpoint, SGLang and grpo serve) or /v1/load_lora_adapter (lora, vLLM and grpo serve).',
      ),
    loraName: z.string().min(1).default('grpo').describe('Adapter names of sync: lora are <loraName>-<N>, N counting the syncs.'),
  })
  .describe('@grpo/plugin-engine-openai options');

export type OpenAiEnginePluginOptions = z.input<typeof openAiEngineOptionsSchema>;

/** The plugin: binds an `OpenAiEngine` as a `RolloutEngine` (`[name, options]` in JSON configs, `openAiEngine({ baseUrl })` in TS). */
const openAiEngine = definePlugin({
  meta,
  options: openAiEngineOptionsSchema,
  register({ bind, config, options }) {
    bind<RolloutEngine>(RolloutEngine)
      .toDynamicValue(
        () =>
          new OpenAiEngine({
            ...options,
            sync:
              options.sync === 'none'
                ? { kind: 'none' }
                : {
                    kind: options.sync,
                    dir: configPath(config, options.syncDir ?? path.join(config.outputDir, 'engine-weights')),
                    ...(options.syncEndpoint ? { endpoint: options.syncEndpoint } : {}),
                    ...(options.sync === 'lora' ? { name: options.loraName } : {}),
                  },
          }),
      )
      .inSingletonScope();
  },
});

export default openAiEngine;
