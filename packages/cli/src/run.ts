import path from 'node:path';
import {
  assembleContainer,
  DirectoryCheckpointer,
  EvalDataset,
  GrpoError,
  GrpoTrainer,
  JsonlMetricsSink,
  JsonlPromptDataset,
  Policy,
  PromptDataset,
  selectNamed,
  TensorBackend,
  type PluginEntry,
  type ResolvedConfig,
} from '@grpo/core';
import { PolicyLoader } from '@grpo/plugin-transformer';
import type { Container } from 'inversify';
import { defaultPlugins } from './defaults.js';

export interface PreparedRun {
  container: Container;
  trainer: GrpoTrainer;
  checkpointer: DirectoryCheckpointer;
  /** metrics.jsonl / samples.jsonl writer, truncated to the resumed step. */
  metrics: JsonlMetricsSink;
  outputDir: string;
  /** Step the run resumed from (0 for a fresh run). */
  resumedFrom: number;
}

/** Directory relative paths in a config are resolved against: the config file's. */
export function configDir(config: ResolvedConfig): string {
  return config.source.startsWith('(') ? process.cwd() : path.dirname(config.source);
}

/**
 * Builds a training run from a resolved config: the container (defaults, then config plugins),
 * the backend, the policy, the datasets and the checkpointer; restores the latest checkpoint
 * when `resume` is set.
 */
/**
 * The container with the backend set up, the policy loaded and the datasets bound: everything a
 * command needs before training, evaluating or sampling.
 */
export async function prepareContainer(
  config: ResolvedConfig,
  options: { defaults?: PluginEntry[]; needTrainData?: boolean } = {},
): Promise<Container> {
  const container = await assembleContainer({ config, defaults: options.defaults ?? defaultPlugins() });
  await selectNamed<TensorBackend>(container, TensorBackend, config.backend, 'tensor backend').setup();
  if (!container.isBound(Policy)) {
    const loaded = await container.get<PolicyLoader>(PolicyLoader).load(configWithPaths(config));
    container.bind(Policy).toConstantValue(loaded);
  }
  const dataFile = (file: string) => path.resolve(configDir(config), file);
  if (!container.isBound(PromptDataset) && config.data.train) {
    container.bind(PromptDataset).toConstantValue(new JsonlPromptDataset(dataFile(config.data.train), { promptField: config.data.promptField }));
  }
  if (options.needTrainData && !container.isBound(PromptDataset))
    throw new GrpoError('No training data: set data.train to a JSONL file, or add a plugin that provides a PromptDataset.');
  if (!container.isBound(EvalDataset) && config.data.eval) {
    container.bind(EvalDataset).toConstantValue(new JsonlPromptDataset(dataFile(config.data.eval), { promptField: config.data.promptField }));
  }
  return container;
}

export async function prepareRun(config: ResolvedConfig, options: { resume?: boolean; defaults?: PluginEntry[] } = {}): Promise<PreparedRun> {
  const container = await prepareContainer(config, { defaults: options.defaults, needTrainData: true });
  const outputDir = path.resolve(configDir(config), config.outputDir);
  const checkpointer = new DirectoryCheckpointer(path.join(outputDir, 'checkpoints'));
  const trainer = GrpoTrainer.fromContainer(container);
  let resumedFrom = 0;
  if (options.resume) {
    const latest = await checkpointer.latest();
    if (!latest) throw new GrpoError(`--resume: no complete checkpoint under ${checkpointer.root}`);
    resumedFrom = (await checkpointer.restore(latest, trainer)).step;
  }
  const metrics = new JsonlMetricsSink(outputDir, { resumeStep: resumedFrom });
  return { container, trainer, checkpointer, metrics, outputDir, resumedFrom };
}

/** The policy checkpoint path resolved against the config file's directory. */
function configWithPaths(config: ResolvedConfig): ResolvedConfig {
  const checkpoint = config.policy.checkpoint;
  return checkpoint ? { ...config, policy: { ...config.policy, checkpoint: path.resolve(configDir(config), checkpoint) } } : config;
}
