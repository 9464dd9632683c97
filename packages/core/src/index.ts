// @grpo/core: the contracts of a GRPO framework, its plugin system, config, the step pipeline and
// the training loop. Explicit named exports only: everything else is internal (checkpoint file
// formats are under `@grpo/core/checkpoint`, the plugin authors' test kit under `@grpo/core/testing`).

// Everything that also runs in a browser: browser.ts lists it, name by name (the `browser` entry).
export * from './browser.js';

// What needs Node: config files, run directories and their locks and records, the directory
// checkpointer, JSONL data and metrics, worker-thread rewards.
export { configToJson, defineConfig, loadConfig, resolveConfig, type LoadConfigOptions, type ResolveConfigOptions } from './config/load.js';
export { configDir, configPath, prepareContainer, prepareRun, type PreparedRun, type PrepareRunOptions } from './run/prepare.js';
export { LOCK_FILE, lockRunDirectory, RunLock, RunLockedError, type RunLockOwner } from './run/lock.js';
export { describeDirectory, resolvePolicyCheckpoint, type CheckpointPathOptions } from './run/checkpoint-path.js';
export { configChanges, configDefaults, formatChange, readRunRecord, RUN_CONFIG_FILE, runRecord, type ConfigChange, type RunRecord } from './run/record.js';
export { workerReward, type WorkerRewardFunction, type WorkerRewardOptions } from './pipeline/worker-reward.js';
export { DirectoryCheckpointer } from './trainer/checkpointer.js';
export { JsonlMetricsSink, readMetrics } from './trainer/sinks.js';
export { ArrayPromptDataset, JsonlPromptDataset } from './data/jsonl.js';
