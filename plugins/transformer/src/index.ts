/**
 * @grpo/plugin-transformer: a Llama-style decoder-only transformer policy on TensorFlow.js.
 *
 * The plugin owns the `policy.model`, `policy.huggingface` and `policy.lora` config keys and contributes the
 * `PolicyFactory` core's `prepareContainer` builds the policy with: a Hugging Face model
 * directory (`policy.huggingface`), else `policy.checkpoint` when set (a GRPO.ts checkpoint or a
 * Hugging Face directory, told apart by config.json's `architectures`), else a fresh model from
 * `policy.model` (seeded with `seed`) with the tokenizer a plugin binds (e.g.
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
import { CliCommand, ConfigError, configPath, definePlugin, PolicyFactory, type ResolvedConfig, type Tokenizer } from '@grpo/core';
import { huggingfaceSchema, modelSchema } from './config.js';
import { modelDiffersFromCheckpoint } from './checkpoint-checks.js';
import { isHfModelDir, loadHfPolicy } from './hf/load.js';
import { loraDiff, loraMismatch, loraSchema, resolveLoraConfig } from './lora.js';
import { createPolicy, loadPolicy, type TransformerPolicy } from './policy.js';
import { exportCommand } from './export.js';

// Everything the browser build exports (browser.ts), and what reads files and directories.
export * from './browser.js';
export { huggingfaceSchema } from './config.js';
export { HF_ARCHITECTURES, type HfArchitecture } from './hf/config.js';
export { NoTextTokenizer } from './hf/tokenizer.js';
export { isHfModelDir, loadHfPolicy } from './hf/load.js';
export { peftFiles, peftKey, readPeftAdapter, ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE } from './hf/peft.js';
export { exportModel, exportCommand, type ExportOptions, type ExportFormat } from './export.js';
export type { FloatDtype } from './hf/write.js';
export { loadPolicy } from './policy.js';
export { ScalarHeadModel, SCALAR_FORMAT, type ScoreAlignment } from './scalar-head.js';

export const meta = { name: '@grpo/plugin-transformer', version: '0.1.0', core: '^0.1.0' } as const;

/**
 * Builds the policy a config describes: the Hugging Face directory `policy.huggingface` (relative
 * to the config file), else `checkpoint` (default `policy.checkpoint`; a GRPO.ts checkpoint or a
 * Hugging Face directory), else a fresh seeded model with `tokenizer`. `policy.huggingface` with
 * `policy.checkpoint` or `policy.model` is a `ConfigError` naming both keys.
 */
export async function createPolicyFromConfig(config: ResolvedConfig, tokenizer?: Tokenizer, checkpoint = config.policy.checkpoint): Promise<TransformerPolicy> {
  const policy = await createBasePolicy(config, tokenizer, checkpoint);
  const options = config.policy.lora;
  if (!options) return policy;
  const lora = resolveLoraConfig(options);
  if (!policy.lora) return policy.withLora(lora, config.seed);
  // A checkpoint that already holds adapters continues training them.
  const diff = loraDiff(policy.lora, lora);
  if (diff.length) {
    policy.dispose();
    throw loraMismatch(config.source, String(checkpoint), diff);
  }
  return policy;
}

async function createBasePolicy(config: ResolvedConfig, tokenizer: Tokenizer | undefined, checkpoint: string | undefined): Promise<TransformerPolicy> {
  const { huggingface } = config.policy;
  if (huggingface !== undefined) {
    const other = [config.policy.checkpoint !== undefined && 'policy.checkpoint', config.policy.model !== undefined && 'policy.model'].filter(Boolean);
    if (other.length)
      throw new ConfigError(
        config.source,
        other.map((key) => ({
          path: 'policy.huggingface',
          message: `set either policy.huggingface or ${String(key)}, not both: the policy comes from one of them${key === 'policy.checkpoint' ? ' (--checkpoint sets policy.checkpoint)' : ''}`,
        })),
      );
    return loadHfPolicy(configPath(config, huggingface));
  }
  if (checkpoint) {
    const policy = (await isHfModelDir(checkpoint)) ? await loadHfPolicy(checkpoint) : await loadPolicy(checkpoint);
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

/**
 * The transformer plugin: owns `policy.model`, `policy.huggingface` and `policy.lora`, contributes
 * the `PolicyFactory` named `transformer` and the `grpo export` command.
 */
const transformer = definePlugin({
  meta,
  config: { 'policy.model': modelSchema, 'policy.huggingface': huggingfaceSchema, 'policy.lora': loraSchema },
  register({ bind }) {
    bind<CliCommand>(CliCommand).toConstantValue(exportCommand);
    bind<PolicyFactory>(PolicyFactory).toConstantValue({
      name: 'transformer',
      create: ({ config, checkpoint, tokenizer }) => createPolicyFromConfig(config, tokenizer, checkpoint),
      // The Hugging Face directory is read besides policy.checkpoint: its weights, config and tokenizer files (chat_template) set the policy.
      sources: ({ config }) => (config.policy.huggingface === undefined ? [] : [configPath(config, config.policy.huggingface)]),
    });
  },
});

export default transformer;
