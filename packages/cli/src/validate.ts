/**
 * `grpo config validate` beyond the schema: what `grpo train` would stop at while it builds the
 * run, found without loading weights or generating data. The container is assembled (a plugin's
 * `register` binds and computes nothing), the `Algorithm` binding is resolved (it picks the
 * estimator, objective, loss aggregation and KL estimator by name), and the names and paths the
 * config gives are checked against what the plugins bound: backend, rollout engine, reward
 * weights, the accuracy reward, the policy checkpoint and the data files.
 */
import { stat } from 'node:fs/promises';
import {
  AdvantageEstimator,
  Algorithm,
  assembleContainer,
  boundValues,
  configPath,
  GrpoError,
  KlEstimator,
  LossAggregation,
  Objective,
  Policy,
  PolicyFactory,
  PromptDataset,
  resolvePolicyCheckpoint,
  RewardFunction,
  RewardShaper,
  RolloutEngine,
  RolloutFilter,
  selectNamed,
  TensorBackend,
  type ConfigIssue,
  type ResolvedConfig,
} from '@grpo/core';
import { AlgorithmDefaults, algorithmNames } from '@grpo/plugin-grpo';
import type { RunSummary } from './describe.js';

export interface RunCheck {
  /** Every problem found, each with its config path. */
  issues: ConfigIssue[];
  /** What the run would train with, when the algorithm resolved (rewards as far as they are known without loading). */
  summary?: RunSummary;
  /** What could not be checked without loading something (e.g. rewards a plugin builds from a checkpoint). */
  unchecked: string[];
}

const message = (error: unknown) => (error as Error).message ?? String(error);
const isFile = (p: string) =>
  stat(p).then(
    (s) => s.isFile(),
    () => false,
  );

const names = (xs: readonly { name: string }[]) => xs.map((x) => x.name).join(', ') || 'none';

/** Checks a resolved config the way `grpo train` uses it, without loading weights; every problem at once. */
export async function checkRun(config: ResolvedConfig): Promise<RunCheck> {
  const issues: ConfigIssue[] = [];
  const unchecked: string[] = [];
  let container;
  try {
    container = await assembleContainer(config);
  } catch (error) {
    if (!(error instanceof GrpoError)) throw error;
    return { issues: [{ path: 'plugins', message: message(error) }], unchecked };
  }
  const attempt = <T>(path: string, fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (error) {
      if (!(error instanceof GrpoError)) throw error;
      issues.push({ path, message: message(error) });
      return undefined;
    }
  };

  // The algorithm: each name the `algorithm` section gives, then the binding train resolves.
  const a = config.algorithm;
  const before = issues.length;
  const chosen = attempt('algorithm', () => algorithmNames(container.getAll<AlgorithmDefaults>(AlgorithmDefaults, { optional: true }), config));
  if (chosen) attempt('algorithm.advantage.estimator', () => selectNamed(container, AdvantageEstimator, chosen.estimator, 'advantage estimator'));
  const klOk = attempt('algorithm.kl.estimator', () => selectNamed(container, KlEstimator, a.kl.estimator, 'KL estimator')) !== undefined;
  if (chosen && klOk) attempt('algorithm.objective.name', () => selectNamed(container, Objective, chosen.objective, 'objective'));
  attempt('algorithm.lossAggregation', () => selectNamed(container, LossAggregation, a.lossAggregation, 'loss aggregation'));
  const algorithm = issues.length === before ? attempt('algorithm', () => container.get<Algorithm>(Algorithm)) : undefined;

  // Backend and rollout engine, by name.
  const backends = boundValues<TensorBackend>(container, TensorBackend);
  if (backends.computed === 0 && backends.complete && !backends.values.some((b) => b.name === config.backend))
    issues.push({ path: 'backend', message: `no tensor backend named '${config.backend}' is registered. Available: ${names(backends.values)}.` });
  const engines = boundValues<RolloutEngine>(container, RolloutEngine);
  const engine = config.generation.engine;
  if (engine !== 'policy' && engines.computed === 0 && engines.complete && !engines.values.some((e) => e.name === engine))
    issues.push({
      path: 'generation.engine',
      message: `no rollout engine named '${engine}' is registered. Available: policy${engines.values.map((e) => `, ${e.name}`).join('')}.`,
    });

  // Rewards: the names weights and the accuracy judge refer to.
  const rewards = boundValues<RewardFunction>(container, RewardFunction);
  const rewardNames = rewards.values.map((r) => r.name);
  const known = rewards.computed === 0 && rewards.complete;
  const have = `have: ${rewardNames.join(', ') || 'none'}`;
  for (const name of Object.keys(config.rewards.weights)) {
    if (rewardNames.includes(name)) continue;
    if (known) issues.push({ path: `rewards.weights.${name}`, message: `names no reward function (${have})` });
    else unchecked.push(`rewards.weights.${name} (rewards that load a model are named only when training starts)`);
  }
  const judge = config.eval.accuracyReward;
  if (judge !== undefined && !rewardNames.includes(judge)) {
    if (known) issues.push({ path: 'eval.accuracyReward', message: `names no reward function (${have})` });
    else unchecked.push('eval.accuracyReward');
  }
  if (known && rewardNames.length === 0)
    issues.push({ path: 'plugins', message: 'no reward function is bound: add a plugin that contributes one (e.g. a task or a reward plugin)' });

  // The policy: a factory to build it, and the checkpoint it loads.
  if (!container.isBound(Policy) && !container.isBound(PolicyFactory))
    issues.push({ path: 'plugins', message: 'no policy: add a plugin that contributes a PolicyFactory (e.g. @grpo/plugin-transformer) or binds a Policy' });
  const checkpoint = config.policy.checkpoint;
  if (checkpoint) {
    try {
      await resolvePolicyCheckpoint(configPath(config, checkpoint), { given: checkpoint });
    } catch (error) {
      if (!(error instanceof GrpoError)) throw error;
      issues.push({ path: 'policy.checkpoint', message: message(error).replace(/^policy\.checkpoint /, '') });
    }
  }

  // Data.
  for (const key of ['train', 'eval'] as const) {
    const file = config.data[key];
    if (file && !(await isFile(configPath(config, file)))) issues.push({ path: `data.${key}`, message: `no such file: ${configPath(config, file)}` });
  }
  if (!config.data.train && !container.isBound(PromptDataset))
    issues.push({
      path: 'data.train',
      message: 'no training data: set data.train to a JSONL file, or add a plugin that binds a PromptDataset (e.g. math-task)',
    });

  // Batch sizes the trainer splits the batch into.
  const t = config.train;
  const batch = t.promptsPerStep * t.groupSize;
  const mini = t.miniBatchSize ?? batch;
  if (mini > batch || batch % mini !== 0)
    issues.push({ path: 'train.miniBatchSize', message: `must divide the batch of promptsPerStep × groupSize = ${batch} sequences, got ${mini}` });
  else if (t.microBatchSize !== undefined && (t.microBatchSize > mini || mini % t.microBatchSize !== 0))
    issues.push({ path: 'train.microBatchSize', message: `must divide train.miniBatchSize (${mini}), got ${t.microBatchSize}` });

  const summary: RunSummary | undefined = algorithm && {
    estimator: algorithm.estimator.name,
    objective: algorithm.objective.name,
    aggregation: algorithm.aggregation.name,
    kl: algorithm.kl,
    rewards: rewards.values.map((r) => ({ name: r.name, weight: config.rewards.weights[r.name] ?? 1 })),
    engine,
    filters: boundValues<RolloutFilter>(container, RolloutFilter).values.map((f) => f.name),
    shapers: boundValues<RewardShaper>(container, RewardShaper).values.map((f) => f.name),
  };
  if (rewards.computed > 0) unchecked.push(`${rewards.computed} reward function${rewards.computed === 1 ? ' is' : 's are'} built when training starts`);
  return { issues, summary, unchecked };
}
