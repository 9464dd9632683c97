// @grpo/core: the contracts of a GRPO framework, its plugin system, config and trainer.
export * from './contracts/backend.js';
export * from './contracts/tokenizer.js';
export * from './contracts/policy.js';
export * from './contracts/value-model.js';
export * from './contracts/reward.js';
export * from './contracts/algorithm.js';
export * from './contracts/data.js';
export * from './contracts/metrics.js';
export * from './contracts/checkpoint.js';
export * from './contracts/events.js';
export * from './records.js';
export * from './errors.js';
export * from './version.js';
export * from './plugin/types.js';
export * from './plugin/container.js';
export * from './config/schema.js';
export * from './config/load.js';
