/**
 * A test container in one call: a config resolved with the given plugins (as `defaults`), the
 * container assembled, and a policy, rewards and datasets bound (a `FakePolicy` unless one is given).
 */
import type { Container } from 'inversify';
import { EvalDataset, PromptDataset } from '../contracts/data.js';
import { Policy } from '../contracts/policy.js';
import { RewardFunction } from '../contracts/reward.js';
import type { GrpoConfigInput } from '../config/schema.js';
import { resolveConfig } from '../config/load.js';
import { ArrayPromptDataset } from '../data/jsonl.js';
import { assembleContainer } from '../plugin/container.js';
import type { PluginEntry, ResolvedConfig } from '../plugin/types.js';
import type { DatasetRow } from '../records.js';
import { Trainer } from '../trainer/trainer.js';
import { FakePolicy } from './fake-policy.js';

export interface TestContainerOptions {
  /** The config, as a user writes it. */
  config?: GrpoConfigInput;
  /** Plugins loaded first (core ships none: pass the algorithm plugin, e.g. `grpo()`). */
  plugins?: readonly PluginEntry[];
  /** The policy (default: a `FakePolicy` over the prompts' and completions' characters that answers `a`). */
  policy?: Policy;
  rewards?: readonly RewardFunction[];
  /** Training rows, bound as the `PromptDataset`. */
  rows?: readonly DatasetRow[];
  /** Held-out rows, bound as the `EvalDataset`. */
  evalRows?: readonly DatasetRow[];
}

/** Resolves a test config: `plugins` as defaults, source `test`, paths relative to the working directory. */
export function testConfig(config: GrpoConfigInput = {}, plugins: readonly PluginEntry[] = []): Promise<ResolvedConfig> {
  return resolveConfig(config, { source: 'test', defaults: plugins });
}

export async function createTestContainer(options: TestContainerOptions = {}): Promise<Container> {
  const config = await testConfig(options.config, options.plugins);
  const container = await assembleContainer(config);
  const chars = [...new Set([...(options.rows ?? []), ...(options.evalRows ?? [])].map((r) => r.prompt).join('') + 'a')].join('');
  container.bind(Policy).toConstantValue(options.policy ?? new FakePolicy({ chars, complete: () => 'a' }));
  for (const reward of options.rewards ?? []) container.bind(RewardFunction).toConstantValue(reward);
  if (options.rows) container.bind(PromptDataset).toConstantValue(new ArrayPromptDataset('test', [...options.rows]));
  if (options.evalRows) container.bind(EvalDataset).toConstantValue(new ArrayPromptDataset('test-eval', [...options.evalRows]));
  return container;
}

/** A trainer over `createTestContainer(options)`. */
export async function createTestTrainer(options: TestContainerOptions = {}): Promise<Trainer> {
  return Trainer.fromContainer(await createTestContainer(options));
}
