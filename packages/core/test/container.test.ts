import { ContainerModule } from 'inversify';
import { describe, expect, it } from 'vitest';
import {
  AdvantageEstimator,
  AlgorithmDefaults,
  algorithmNames,
  assembleContainer,
  CORE_VERSION,
  definePlugin,
  flattenPlugins,
  GrpoConfig,
  PluginError,
  RewardFunction,
  selectNamed,
  ValueModel,
  type AdvantageBatch,
  type AdvantageInput,
  type GrpoPlugin,
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

const stubDefaults = definePlugin(() => ({
  meta: { name: 'stub-defaults', version: '1.0.0', core: '^0.1.0' },
  module: new ContainerModule(({ bind }) => {
    bind(AdvantageEstimator).toConstantValue(constantEstimator('grpo', 1));
    bind(AdvantageEstimator).toConstantValue(constantEstimator('rloo', 2));
  }),
}));

const reward = (name: string): RewardFunctionT => ({ name, score: (input) => input.completions.map(() => 1) });

describe('assembleContainer', () => {
  it('loads defaults first, then config plugins in order, and exposes the config', async () => {
    const order: string[] = [];
    const tracer = (name: string): GrpoPlugin => ({
      meta: { name, version: '1.0.0', core: '^0.1.0' },
      register: () => void order.push(name),
    });
    const config = testConfig();
    const container = await assembleContainer({ config, defaults: [tracer('core-defaults')], plugins: [tracer('a'), [tracer('b'), false, null, [tracer('c')]], undefined] });
    expect(order).toEqual(['core-defaults', 'a', 'b', 'c']);
    expect(container.get(GrpoConfig)).toBe(config);
  });

  it('collects every reward plugin through the RewardFunction multi-binding', async () => {
    const rewards = (...names: string[]): GrpoPlugin => ({
      meta: { name: `rewards-${names.join('-')}`, version: '1.0.0', core: '^0.1.0' },
      register: ({ bind }) => names.forEach((n) => bind(RewardFunction).toConstantValue(reward(n))),
    });
    const container = await assembleContainer({ config: testConfig(), plugins: [rewards('accuracy', 'format'), rewards('length')] });
    expect(container.getAll<RewardFunctionT>(RewardFunction).map((r) => r.name)).toEqual(['accuracy', 'format', 'length']);
  });

  it('selects the advantage estimator named in the config, and a user plugin can rebind it', async () => {
    const config = testConfig({ algorithm: { advantage: { estimator: 'mine' } } });
    const swap: GrpoPlugin = {
      meta: { name: 'my-estimator', version: '1.0.0', core: '^0.1.0' },
      register: async ({ rebind }) => (await rebind(AdvantageEstimator)).toConstantValue(constantEstimator('mine', 7)),
    };
    const container = await assembleContainer({ config, defaults: [stubDefaults()], plugins: [swap] });
    const estimator = selectNamed<AdvantageEstimator>(container, AdvantageEstimator, config.algorithm.advantage.estimator!, 'advantage estimator');
    const group = { row: { prompt: 'p' }, promptIds: [1], completions: [{ tokenIds: [1, 2], text: 'ab', logprobs: [0, 0], finishReason: 'eos' as const }], rewards: [1], rewardsByFunction: {}, unscored: [false] };
    expect(estimator.estimate({ groups: [group], options: config.algorithm.advantage }).advantages).toEqual([[7, 7]]);
    // The rebind replaced the defaults entirely.
    expect(() => selectNamed(container, AdvantageEstimator, 'grpo', 'advantage estimator')).toThrow(/No advantage estimator named 'grpo'.*Available: mine/);
  });

  it('selects by name among the defaults and lists what is available on a typo', async () => {
    const container = await assembleContainer({ config: testConfig(), defaults: [stubDefaults()] });
    expect(selectNamed<AdvantageEstimator>(container, AdvantageEstimator, 'rloo', 'advantage estimator').name).toBe('rloo');
    expect(() => selectNamed(container, AdvantageEstimator, 'rlooo', 'advantage estimator')).toThrow(
      "No advantage estimator named 'rlooo' is registered. Available: grpo, rloo.",
    );
  });

  it('rejects a plugin whose requirement no plugin provides, naming both', async () => {
    const ppoLike: GrpoPlugin = {
      meta: { name: '@acme/grpo-plugin-critic-loss', version: '1.0.0', core: '^0.1.0', requires: [ValueModel] },
      register: () => {},
    };
    const attempt = assembleContainer({ config: testConfig(), plugins: [ppoLike] });
    await expect(attempt).rejects.toThrow(PluginError);
    await expect(attempt).rejects.toThrow(/'@acme\/grpo-plugin-critic-loss' requires grpo\.ValueModel, but no loaded plugin provides it/);
  });

  it('accepts the requirement when a later plugin provides it', async () => {
    const needs: GrpoPlugin = { meta: { name: 'needs', version: '1.0.0', core: '^0.1.0', requires: [ValueModel] }, register: () => {} };
    const provides: GrpoPlugin = {
      meta: { name: 'provides', version: '1.0.0', core: '^0.1.0' },
      register: ({ bind }) => void bind(ValueModel).toConstantValue({}),
    };
    await expect(assembleContainer({ config: testConfig(), plugins: [needs, provides] })).resolves.toBeDefined();
  });

  it('rejects a plugin built for an incompatible core version', async () => {
    const old: GrpoPlugin = { meta: { name: 'grpo-plugin-old', version: '3.0.0', core: '^2.0.0' }, register: () => {} };
    await expect(assembleContainer({ config: testConfig(), plugins: [old] })).rejects.toThrow(
      `Plugin 'grpo-plugin-old' needs @grpo/core ^2.0.0, but this is @grpo/core ${CORE_VERSION}.`,
    );
  });

  it('rejects malformed plugins with a plain message', async () => {
    await expect(assembleContainer({ config: testConfig(), plugins: [{} as GrpoPlugin] })).rejects.toThrow(/Plugin #1 is not a GRPO plugin/);
    const empty: GrpoPlugin = { meta: { name: 'empty', version: '1.0.0', core: '^0.1.0' } };
    await expect(assembleContainer({ config: testConfig(), plugins: [empty] })).rejects.toThrow(/'empty' contributes nothing/);
    const badRange: GrpoPlugin = { meta: { name: 'bad-range', version: '1.0.0', core: 'not a range' }, register: () => {} };
    await expect(assembleContainer({ config: testConfig(), plugins: [badRange] })).rejects.toThrow(/invalid core version range 'not a range'/);
  });

  it('wraps an error thrown while a plugin binds, naming the plugin', async () => {
    const broken: GrpoPlugin = {
      meta: { name: 'broken', version: '1.0.0', core: '^0.1.0' },
      register: () => {
        throw new Error('boom');
      },
    };
    await expect(assembleContainer({ config: testConfig(), plugins: [broken] })).rejects.toThrow("Plugin 'broken' failed to load: boom");
  });

  it('flattens presets and ignores falsy entries', () => {
    const p = (name: string): GrpoPlugin => ({ meta: { name, version: '1', core: '*' }, register: () => {} });
    const useGpu = false;
    expect(flattenPlugins([p('a'), useGpu && p('gpu'), [p('b'), [null, p('c')]]]).map((x) => x.meta.name)).toEqual(['a', 'b', 'c']);
  });
});

describe('algorithmNames', () => {
  const defaults = (name: string, estimator?: string, objective?: string): GrpoPlugin => ({
    meta: { name, version: '1.0.0', core: '^0.1.0' },
    register: ({ bind }) => void bind(AlgorithmDefaults).toConstantValue({ name, estimator, objective }),
  });
  it('takes the last plugin default, and the config name over any default', async () => {
    const container = await assembleContainer({ config: testConfig(), defaults: [defaults('grpo', 'grpo', 'clipped-surrogate')], plugins: [defaults('ppo', 'gae', 'ppo')] });
    expect(algorithmNames(container, testConfig())).toEqual({ estimator: 'gae', objective: 'ppo' });
    expect(algorithmNames(container, testConfig({ algorithm: { advantage: { estimator: 'rloo' } } }))).toEqual({ estimator: 'rloo', objective: 'ppo' });
    const partial = await assembleContainer({ config: testConfig(), plugins: [defaults('grpo', 'grpo', 'clipped-surrogate'), defaults('est-only', 'mine')] });
    expect(algorithmNames(partial, testConfig())).toEqual({ estimator: 'mine', objective: 'clipped-surrogate' });
  });
  it('says what to do when nothing chooses', async () => {
    const container = await assembleContainer({ config: testConfig() });
    expect(() => algorithmNames(container, testConfig())).toThrow(/No advantage estimator is chosen/);
  });
});

describe('CORE_VERSION', () => {
  it('matches the package version plugins are checked against', async () => {
    const pkg = (await import('../package.json', { with: { type: 'json' } })).default as { version: string };
    expect(CORE_VERSION).toBe(pkg.version);
  });
});
