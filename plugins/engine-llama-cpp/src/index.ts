/**
 * @grpo/plugin-engine-llama-cpp: a rollout engine that samples in process with llama.cpp
 * (node-llama-cpp 3.21.1, its prebuilt CPU binaries). Choose it with `generation.engine: llama.cpp`;
 * the policy is exported to GGUF before the first rollout and after every update, and the
 * off-policy correction (`generation.correction`) is on by default since llama.cpp's numbers are
 * not the trainer's.
 */
import { definePlugin, RolloutEngine } from '@grpo/core';
import { z } from 'zod';
import { LlamaCppEngine } from './engine.js';

export { LlamaCppEngine, type LlamaCppEngineOptions } from './engine.js';
export {
  encodeGguf,
  f32ToF16,
  permuteRope,
  policyToGguf,
  Q4_0_BLOCK,
  Q8_0_BLOCK,
  quantizeQ4_0,
  quantizeQ8_0,
  readSafetensors,
  transpose,
  type GgmlType,
  type GgufExportOptions,
  type GgufTensor,
  type GgufValue,
} from './gguf.js';

export const meta = { name: '@grpo/plugin-engine-llama-cpp', version: '0.1.0', core: '^0.1.0' } as const;

export const llamaCppEngineOptionsSchema = z
  .strictObject({
    name: z.string().min(1).default('llama.cpp').describe('The engine name `generation.engine` selects.'),
    threads: z.number().int().positive().optional().describe("CPU threads llama.cpp uses (default: node-llama-cpp's choice)."),
    dir: z.string().min(1).optional().describe('Directory for the exported GGUF files (default a temporary one).'),
    weightType: z
      .enum(['F32', 'Q8_0', 'Q4_0'])
      .default('F32')
      .describe(
        "Weight type of the exported GGUF: F32, Q8_0 (ggml's 8-bit blocks) or Q4_0 (its 4-bit blocks); the quantised ones are smaller and faster, and further from the trainer's numbers.",
      ),
  })
  .prefault({})
  .describe('@grpo/plugin-engine-llama-cpp options');

export type LlamaCppEnginePluginOptions = z.input<typeof llamaCppEngineOptionsSchema>;

/** The plugin: binds a `LlamaCppEngine` as a `RolloutEngine`. */
const llamaCppEngine = definePlugin({
  meta,
  options: llamaCppEngineOptionsSchema,
  register({ bind, options }) {
    bind<RolloutEngine>(RolloutEngine)
      .toDynamicValue(() => new LlamaCppEngine(options))
      .inSingletonScope();
  },
});

export default llamaCppEngine;
