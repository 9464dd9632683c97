/**
 * @grpo/plugin-transformer: a Llama-style decoder-only transformer policy on TensorFlow.js.
 *
 * How the trainer gets a policy (loading is async, so the container holds a loader, not a policy):
 *
 * ```ts
 * import { PolicyLoader } from '@grpo/plugin-transformer';
 * const loader = container.get<PolicyLoader>(PolicyLoader);   // bound by transformer()
 * const policy = await loader.load(config);                    // core's Policy
 * ```
 *
 * `load(config)` loads `config.policy.checkpoint` when set; otherwise it builds a fresh policy
 * from `config.policy.model` (seeded with `config.seed`) and the tokenizer bound to core's
 * `Tokenizer` token (e.g. by `@grpo/plugin-tokenizers`). `createPolicyFromConfig(config,
 * tokenizer?)` does the same without a container.
 *
 * Conventions the trainer should know:
 * - `generate` encodes each prompt as `tokenizer.encode(prompt, { addBos: true })`
 *   (`encodePrompt`); use the same ids as `TokenBatch.prompts` for `tokenLogProbs`.
 * - A completion's `tokenIds` include the EOS token when it finished with 'eos'.
 * - `Completion.logprobs` are under the distribution sampled from (temperature, top-k, top-p
 *   applied and renormalised); with temperature 1 and no truncation they equal `tokenLogProbs`.
 *   Greedy decoding (temperature 0) reports the plain softmax log-probs.
 * - Call the backend's setup (e.g. `tf.setBackend('wasm')`) before creating a policy.
 */
import { ConfigError, Tokenizer, type GrpoPlugin, type Policy, type ResolvedConfig } from '@grpo/core';
import { ContainerModule } from 'inversify';
import { createPolicy, loadPolicy, type TransformerPolicy } from './policy.js';
import type { ModelOptions } from './config.js';

export { resolveModelConfig, defaultFfnDim, type TransformerConfig, type ModelOptions } from './config.js';
export { weightShapes } from './model.js';
export { bmm, mm } from './kernels.js';
export { encodePrompt } from './generate.js';
export { samplingLogProbs, sampleToken, type SamplerOptions } from './sampling.js';
export {
  TransformerPolicy,
  FrozenTransformerPolicy,
  createPolicy,
  loadPolicy,
  CONFIG_FILE,
  WEIGHTS_FILE,
  CHECKPOINT_FORMAT,
  type CheckpointConfig,
} from './policy.js';
export { ScalarHeadModel, SCALAR_FORMAT, type ScoreAlignment } from './scalar-head.js';
export { sft, sftLoss, type SftExample, type SftOptions, type SftResult, type SftStepRecord } from './sft.js';

export const meta = { name: '@grpo/plugin-transformer', version: '0.1.0', core: '^0.1.0' } as const;

/** Token of the async policy loader this plugin binds. */
export const PolicyLoader = Symbol.for('grpo.PolicyLoader');
export interface PolicyLoader {
  load(config: ResolvedConfig): Promise<Policy>;
}

/** Builds the policy a config describes: its checkpoint, or a fresh seeded model with `tokenizer`. */
export async function createPolicyFromConfig(config: ResolvedConfig, tokenizer?: Tokenizer): Promise<TransformerPolicy> {
  if (config.policy.checkpoint) return loadPolicy(config.policy.checkpoint);
  if (!tokenizer)
    throw new ConfigError(config.source, [
      { path: 'policy', message: 'no checkpoint given and no tokenizer bound: set policy.checkpoint or add a tokenizer plugin' },
    ]);
  return createPolicy({ model: config.policy.model ?? {}, tokenizer, seed: config.seed });
}

export interface TransformerPluginOptions {
  /** Overrides `config.policy.model` when building from scratch. */
  model?: ModelOptions;
}

/** The transformer plugin: binds `PolicyLoader`. */
export default function transformer(options: TransformerPluginOptions = {}): GrpoPlugin {
  return {
    meta,
    module: new ContainerModule(({ bind }) => {
      bind<PolicyLoader>(PolicyLoader).toDynamicValue((ctx) => {
        const tokenizer = ctx.get<Tokenizer>(Tokenizer, { optional: true });
        return {
          load: (config) =>
            createPolicyFromConfig(
              options.model ? { ...config, policy: { ...config.policy, model: { ...config.policy.model, ...options.model } as typeof config.policy.model } } : config,
              tokenizer,
            ),
        };
      });
    }),
  };
}
