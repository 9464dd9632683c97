// @grpo/plugin-transformer in a browser (the `browser` export condition): the policy, its model,
// sampling and SFT, with checkpoints as files in memory (`policyFromFiles`, `policy.files()`).
// Without the plugin factory and `grpo export`, which read configs and directories, and the
// Hugging Face and scalar-head loaders; a subset of `index.ts`'s exports.
export {
  resolveModelConfig,
  defaultFfnDim,
  modelSchema,
  type TransformerConfig,
  type ModelOptions,
  type ArchitectureExtras,
  type Llama3RopeScaling,
} from './config.js';
export { weightShapes, type LinearDelta } from './model.js';
export {
  loraSchema,
  resolveLoraConfig,
  loraScale,
  initAdapterValues,
  adapterSlots,
  LORA_MODULES,
  type LoraConfig,
  type LoraModule,
  type LoraOptions,
  type AdapterSlot,
  type AdapterValues,
} from './lora.js';
export { bmm, mm } from './kernels.js';
export { encodePrompt } from './generate.js';
export { samplingLogProbs, sampleToken, type SamplerOptions } from './sampling.js';
export {
  TransformerPolicy,
  FrozenTransformerPolicy,
  LoraReferencePolicy,
  createPolicy,
  policyFromFiles,
  CONFIG_FILE,
  WEIGHTS_FILE,
  CHECKPOINT_FORMAT,
  type CheckpointConfig,
  type TokenConventions,
  type LoraInit,
} from './policy.js';
export { sft, sftLoss, type SftExample, type SftOptions, type SftResult, type SftStepRecord } from './sft.js';
