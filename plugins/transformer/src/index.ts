/**
 * @grpo/plugin-transformer: a Llama-style decoder-only transformer policy on TensorFlow.js.
 *
 * The plugin owns the `policy.model` config section and contributes the `PolicyFactory` core's
 * `prepareContainer` builds the policy with: `policy.checkpoint` when set, else a fresh model
 * from `policy.model` (seeded with `seed`) with the tokenizer a plugin binds (e.g.
 * `@grpo/plugin-tokenizers`). `createPolicyFromConfig(config, tokenizer?)` does the same without
 * a container.
 *
 * Conventions the trainer relies on:
 * - `generate` encodes each prompt as `tokenizer.encode(prompt, { addBos: true })`
 *   (`encodePrompt`); use the same ids as `TokenBatch.prompts` for `tokenLogProbs`.
 * - A completion's `tokenIds` include the EOS token when it finished with 'eos'.
 * - `Completion.logprobs` are under the distribution sampled from (temperature, top-k, top-p
 *   applied and renormalised); with temperature 1 and no truncation they equal `tokenLogProbs`.
 *   Greedy decoding (temperature 0) reports the plain softmax log-probs.
 * - Call the backend's setup (e.g. `tf.setBackend('wasm')`) before creating a policy.
 */
import { ConfigError, definePlugin, PolicyFactory, type ResolvedConfig, type Tokenizer } from '@grpo/core';
import { modelSchema } from './config.js';
import { modelDiffersFromCheckpoint } from './checkpoint-checks.js';
import { createPolicy, loadPolicy, type TransformerPolicy } from './policy.js';

export { resolveModelConfig, defaultFfnDim, modelSchema, type TransformerConfig, type ModelOptions } from './config.js';
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

/** Builds the policy a config describes: `checkpoint` (default `policy.checkpoint`), or a fresh seeded model with `tokenizer`. */
export async function createPolicyFromConfig(config: ResolvedConfig, tokenizer?: Tokenizer, checkpoint = config.policy.checkpoint): Promise<TransformerPolicy> {
  if (checkpoint) {
    const policy = await loadPolicy(checkpoint);
    if (config.policy.model) {
      // policy.model only builds a fresh model: beside a checkpoint it must at least describe that checkpoint.
      const issue = modelDiffersFromCheckpoint(config.policy.model, policy.config, checkpoint);
      if (issue) {
        policy.dispose();
        throw new ConfigError(config.source, [issue]);
      }
    }
    return policy;
  }
  if (!tokenizer)
    throw new ConfigError(config.source, [
      { path: 'policy', message: 'no checkpoint given and no tokenizer bound: set policy.checkpoint or add a tokenizer plugin' },
    ]);
  return createPolicy({ model: config.policy.model ?? {}, tokenizer, seed: config.seed });
}

/** The transformer plugin: owns `policy.model` and contributes the `PolicyFactory` named `transformer`. */
const transformer = definePlugin({
  meta,
  config: { 'policy.model': modelSchema },
  register({ bind }) {
    bind<PolicyFactory>(PolicyFactory).toConstantValue({
      name: 'transformer',
      create: ({ config, checkpoint, tokenizer }) => createPolicyFromConfig(config, tokenizer, checkpoint),
    });
  },
});

export default transformer;
