import { ContainerModule } from 'inversify';
import { describe, expect, it } from 'vitest';
import {
  AdvantageEstimator,
  assembleContainer,
  ConfigError,
  CORE_VERSION,
  flattenPlugins,
  GrpoConfig,
  PluginError,
  RewardFunction,
  selectNamed,
  UpdateParticipant,
  type AdvantageBatch,
  type AdvantageInput,
  type GrpoPlugin,
  type PluginEntry,
  type RewardFunction as RewardFunctionT,
} from '../src/index.js';
import { testConfig } from './helpers.js';

/** A stub estimator that returns the raw reward on every token, so a test can see which one ran. */
const constantEstimator = (name: string, value: number): AdvantageEstimator => ({
  name,
  estimate: (input: AdvantageInput): AdvantageBatch => ({
    advantages: input.groups.flatMap((g) => g.completions.map((c) => c.tokenIds.map(() => value))),
    metrics: {},
  }),
});

const stubDefaults = (): GrpoPlugin => ({
  meta: { name: 'stub-defaults', version: '1.0.0', core: '^0.1.0' },
  module: new ContainerModule(({ bind }) => {
    bind(AdvantageEstimator).toConstantValue(constantEstimator('grpo', 1));
    bind(AdvantageEstimator).toConstantValue(constantEstimator('rloo', 2));
  }),
});

/** The container of a test config with these plugins (defaults first, as the CLI loads them). */
const containerOf = async (plugins: readonly PluginEntry[]) => assembleContainer(await testConfig({}, plugins));

const reward = (name: string): RewardFunctionT => ({ name, score: (input) => input.completions.map(() => 1) });

describe('assembleContainer', () => {
  it('loads defaults first, then config plugins in order, and exposes the config', async () => {
    const order: string[] = [];
    const tracer = (name: string): GrpoPlugin => ({
      meta: { name, version: '1.0.0', core: '^0.1.0' },
      register: () => void order.push(name),
    });
    const config = await testConfig({ plugins: [tracer('a'), [tracer('b'), false, null, [tracer('c')]], undefined] }, [tracer('core-defaults')]);
    const container = await assembleContainer(config);
    expect(order).toEqual(['core-defaults', 'a', 'b', 'c']);
    expect(container.get(GrpoConfig)).toBe(config);
  });

  it('collects every reward plugin through the RewardFunction multi-binding', async () => {
    const rewards = (...names: string[]): GrpoPlugin => ({
      meta: { name: `rewards-${names.join('-')}`, version: '1.0.0', core: '^0.1.0' },
      register: ({ bind }) => names.forEach((n) => bind(RewardFunction).toConstantValue(reward(n))),
    });
    const container = await containerOf([rewards('accuracy', 'format'), rewards('length')]);
    expect(container.getAll<RewardFunctionT>(RewardFunction).map((r) => r.name)).toEqual(['accuracy', 'format', 'length']);
  });

  it('selects an estimator by name, and a user plugin can rebind the contribution point', async () => {
    const swap: GrpoPlugin = {
      meta: { name: 'my-estimator', version: '1.0.0', core: '^0.1.0' },
      register: async ({ rebind }) => (await rebind(AdvantageEstimator)).toConstantValue(constantEstimator('mine', 7)),
    };
    const container = await containerOf([stubDefaults(), swap]);
    const estimator = selectNamed<AdvantageEstimator>(container, AdvantageEstimator, 'mine', 'advantage estimator');
    const group = {
      row: { prompt: 'p' },
      prompt: 'p',
      promptIds: [1],
      completions: [{ tokenIds: [1, 2], text: 'ab', logprobs: [0, 0], finishReason: 'eos' as const }],
      rewards: [1],
      rewardsByFunction: {},
      unscored: [false],
    };
    const options = { std: 'unbiased', eps: 1e-4, zeroVarianceToZero: true, singleton: 'zero' } as const;
    expect(estimator.estimate({ groups: [group], options }).advantages).toEqual([[7, 7]]);
    // The rebind replaced the defaults entirely.
    expect(() => selectNamed(container, AdvantageEstimator, 'grpo', 'advantage estimator')).toThrow(/No advantage estimator named 'grpo'.*Available: mine/);
  });

  it('selects by name among the defaults and lists what is available on a typo', async () => {
    const container = await containerOf([stubDefaults()]);
    expect(selectNamed<AdvantageEstimator>(container, AdvantageEstimator, 'rloo', 'advantage estimator').name).toBe('rloo');
    expect(() => selectNamed(container, AdvantageEstimator, 'rlooo', 'advantage estimator')).toThrow(
      "No advantage estimator named 'rlooo' is registered. Available: grpo, rloo.",
    );
  });

  it('rejects a plugin whose requirement no plugin provides, naming both', async () => {
    const ppoLike: GrpoPlugin = {
      meta: { name: '@acme/grpo-plugin-critic-loss', version: '1.0.0', core: '^0.1.0', requires: [UpdateParticipant] },
      register: () => {},
    };
    const attempt = containerOf([ppoLike]);
    await expect(attempt).rejects.toThrow(PluginError);
    await expect(attempt).rejects.toThrow(/'@acme\/grpo-plugin-critic-loss' requires grpo\.UpdateParticipant, but no loaded plugin provides it/);
  });

  it('accepts the requirement when a later plugin provides it', async () => {
    const needs: GrpoPlugin = { meta: { name: 'needs', version: '1.0.0', core: '^0.1.0', requires: [UpdateParticipant] }, register: () => {} };
    const provides: GrpoPlugin = {
      meta: { name: 'provides', version: '1.0.0', core: '^0.1.0' },
      register: ({ bind }) => void bind(UpdateParticipant).toConstantValue({}),
    };
    await expect(containerOf([needs, provides])).resolves.toBeDefined();
  });

  it('rejects a plugin built for an incompatible core version', async () => {
    const old: GrpoPlugin = { meta: { name: 'grpo-plugin-old', version: '3.0.0', core: '^2.0.0' }, register: () => {} };
    await expect(containerOf([old])).rejects.toThrow(`Plugin 'grpo-plugin-old' needs @grpo/core ^2.0.0, but this is @grpo/core ${CORE_VERSION}.`);
  });

  it('rejects malformed plugins with a plain message', async () => {
    await expect(containerOf([{} as GrpoPlugin])).rejects.toThrow(ConfigError);
    await expect(containerOf([{} as GrpoPlugin])).rejects.toThrow(/plugin #1 is not a GRPO plugin/);
    const empty: GrpoPlugin = { meta: { name: 'empty', version: '1.0.0', core: '^0.1.0' } };
    await expect(containerOf([empty])).rejects.toThrow(/'empty' contributes nothing/);
    const badRange: GrpoPlugin = { meta: { name: 'bad-range', version: '1.0.0', core: 'not a range' }, register: () => {} };
    await expect(containerOf([badRange])).rejects.toThrow(/invalid core version range 'not a range'/);
  });

  it('wraps an error thrown while a plugin binds, naming the plugin', async () => {
    const broken: GrpoPlugin = {
      meta: { name: 'broken', version: '1.0.0', core: '^0.1.0' },
      register: () => {
        throw new Error('boom');
      },
    };
    await expect(containerOf([broken])).rejects.toThrow("Plugin 'broken' failed to load: boom");
  });

  it('flattens presets and ignores falsy entries', () => {
    const p = (name: string): GrpoPlugin => ({ meta: { name, version: '1', core: '*' }, register: () => {} });
    const useGpu = false;
    expect(flattenPlugins([p('a'), useGpu && p('gpu'), [p('b'), [null, p('c')]]]).map((x) => x.meta.name)).toEqual(['a', 'b', 'c']);
  });
});

describe('CORE_VERSION', () => {
  it('matches the package version plugins are checked against', async () => {
    const pkg = (await import('../package.json', { with: { type: 'json' } })).default as { version: string };
    expect(CORE_VERSION).toBe(pkg.version);
  });
});
