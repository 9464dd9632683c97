import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AdvantageEstimator,
  Algorithm,
  assembleContainer,
  ConfigError,
  KlEstimator,
  LossAggregation,
  Objective,
  PluginError,
  ReferenceSchedule,
  resolveConfig,
  RewardShaper,
  RolloutFilter,
  selectNamed,
  type GrpoConfigInput,
  type GrpoPlugin,
  type ResolvedConfig,
} from '@grpo/core';
import grpoDefault, { AlgorithmDefaults, algorithmNames, grpo } from '../src/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** The config `input` resolves to with grpo() (and `extra`) loaded first. */
function config(input: GrpoConfigInput = {}, extra: GrpoPlugin[] = []): Promise<ResolvedConfig> {
  return resolveConfig(input, { source: 'test', defaults: [grpo(), ...extra] });
}

const containerFor = async (input: GrpoConfigInput = {}, extra: GrpoPlugin[] = []) => assembleContainer(await config(input, extra));

/** A plugin that binds `AlgorithmDefaults`, as PPO does. */
const defaults = (name: string, estimator?: string, objective?: string): GrpoPlugin => ({
  meta: { name, version: '1.0.0', core: '^0.1.0' },
  register: ({ bind }) => void bind(AlgorithmDefaults).toConstantValue({ name, estimator, objective }),
});

describe('grpo() plugin', () => {
  it('is the default export and carries its metadata', () => {
    expect(grpoDefault).toBe(grpo);
    expect(grpo().meta).toEqual({ name: '@grpo/plugin-grpo', version: '0.1.0', core: '^0.1.0' });
    expect(Object.keys(grpo().config ?? {})).toEqual(['algorithm']);
  });

  it('owns the algorithm section: TRL defaults, and mistakes reported with their paths', async () => {
    const c = await config();
    expect(c.algorithm.advantage).toEqual({ std: 'unbiased', eps: 1e-4, zeroVarianceToZero: true, singleton: 'zero' });
    expect(c.algorithm.kl).toMatchObject({ beta: 0.04, estimator: 'k3', inReward: false, refResetEvery: 0 });
    expect(c.algorithm.lossAggregation).toBe('seq-mean-token-mean');
    const error = await config({ algorithm: { advantage: { std: 'sample' as never }, objective: { dualClip: 1 }, klz: {} } as never }).then(
      () => undefined,
      (e: unknown) => e as ConfigError,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.issues.map((i) => i.path).sort()).toEqual(['algorithm', 'algorithm.advantage.std', 'algorithm.objective.dualClip']);
    expect(error!.message).toContain("unknown key 'klz'");
  });

  it('binds every estimator, KL estimator and aggregation; selectNamed finds each name', async () => {
    const container = await containerFor();
    const names: [symbol, string, string[]][] = [
      [AdvantageEstimator, 'advantage estimator', ['grpo', 'grpo-process', 'dr-grpo', 'rloo', 'reinforce-plus-plus', 'grpo-batch', 'rft']],
      [KlEstimator, 'KL estimator', ['k1', 'abs', 'k2', 'k3']],
      [LossAggregation, 'loss aggregation', ['seq-mean-token-mean', 'token-mean', 'seq-mean-token-sum', 'constant']],
    ];
    for (const [token, what, list] of names) {
      expect(
        container
          .getAll<{ name: string }>(token)
          .map((x) => x.name)
          .sort(),
      ).toEqual([...list].sort());
      for (const name of list) expect(selectNamed(container, token, name, what).name).toBe(name);
    }
    expect(() => selectNamed(container, KlEstimator, 'k9', 'KL estimator')).toThrow(/No KL estimator named 'k9'.*Available: k1, abs, k2, k3/);
  });

  it('the default config runs grpo, seq-mean-token-mean and clipped-surrogate with the KL in the loss', async () => {
    const container = await containerFor();
    // The config names no estimator or objective: the plugin's AlgorithmDefaults choose them.
    expect(container.getAll<AlgorithmDefaults>(AlgorithmDefaults)).toEqual([{ name: '@grpo/plugin-grpo', estimator: 'grpo', objective: 'clipped-surrogate' }]);
    const algorithm = container.get<Algorithm>(Algorithm);
    expect(algorithm.estimator.name).toBe('grpo');
    expect(algorithm.aggregation.name).toBe('seq-mean-token-mean');
    expect(algorithm.objective.name).toBe('clipped-surrogate');
    expect(algorithm.advantageOptions).toEqual({ std: 'unbiased', eps: 1e-4, zeroVarianceToZero: true, singleton: 'zero' });
    expect(algorithm.kl).toEqual({ placement: 'loss', beta: 0.04 });
    expect(container.get<Objective>(Objective)).toBe(algorithm.objective); // one per container
    // DAPO's filter and shapers, TRL's mask and the reference schedules are off by default.
    for (const token of [RolloutFilter, RewardShaper, ReferenceSchedule]) expect(container.isBound(token)).toBe(false);
  });

  it('places the KL where the config says: none (β = 0), the loss, or the reward', async () => {
    expect((await containerFor({ algorithm: { kl: { beta: 0, inReward: true } } })).get<Algorithm>(Algorithm).kl).toEqual({ placement: 'none', beta: 0 });
    expect((await containerFor({ algorithm: { kl: { beta: 0.1, inReward: true } } })).get<Algorithm>(Algorithm).kl).toEqual({ placement: 'reward', beta: 0.1 });
  });

  it('contributes the DAPO filter, the shapers and the reference schedule when the section turns them on', async () => {
    const container = await containerFor({
      algorithm: { dynamicSampling: { enabled: true, maxRounds: 5 }, overlong: { enabled: true }, maskTruncated: true, kl: { refResetEvery: 10 } },
    });
    expect(container.getAll<RolloutFilter>(RolloutFilter).map((f) => [f.name, f.refillRounds])).toEqual([['dynamic_sampling', 5]]);
    expect(container.getAll<RewardShaper>(RewardShaper).map((s) => s.name)).toEqual(['overlong', 'mask_truncated']);
    expect(container.getAll<ReferenceSchedule>(ReferenceSchedule).map((s) => s.name)).toEqual(['reference-schedule']);
  });

  it('builds the objective from algorithm.objective and algorithm.kl', async () => {
    // ε_high 0.28, β 0.5 with k1, entropy coefficient 0.1. One token: ρ = 1.5, A = +1, logp −1.0, ref −1.2, entropy 2.
    // ℓ = −1.28 (clip-higher) + 0.5·0.2 (k1) − 0.1·2 = −1.38.
    const container = await containerFor({
      algorithm: {
        objective: { epsilonLow: 0.2, epsilonHigh: 0.28, entropyCoef: 0.1 },
        kl: { beta: 0.5, estimator: 'k1' },
      },
    });
    const objective = container.get<Objective>(Objective);
    const aggregation = selectNamed<LossAggregation>(container, LossAggregation, 'token-mean', 'loss aggregation');
    const before = tf.memory().numTensors;
    const loss = tf.tidy(() =>
      objective
        .loss(
          {
            logprobs: tf.tensor2d([[-1.0]]),
            oldLogprobs: tf.tensor2d([[-1.0 - Math.log(1.5)]]),
            refLogprobs: tf.tensor2d([[-1.2]]),
            advantages: tf.tensor2d([[1]]),
            mask: tf.tensor2d([[1]]),
            entropy: tf.tensor2d([[2]]),
          },
          aggregation,
          { totalTokens: 1, totalSequences: 1, maxLength: 1 },
        )
        .loss.arraySync(),
    );
    expect(loss).toBeCloseTo(-1.38, 5);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('dual-clip and sequence-level ratio come from config too', async () => {
    const container = await containerFor({ algorithm: { objective: { dualClip: 3, ratioLevel: 'sequence' }, kl: { beta: 0 } } });
    const objective = container.get<Objective>(Objective);
    const aggregation = selectNamed<LossAggregation>(container, LossAggregation, 'seq-mean-token-mean', 'loss aggregation');
    const run = (logRatio: number[], a: number) =>
      tf.tidy(() =>
        objective
          .loss(
            {
              logprobs: tf.tensor2d([logRatio]),
              oldLogprobs: tf.zeros([1, logRatio.length]) as tf.Tensor2D,
              advantages: tf.fill([1, logRatio.length], a) as tf.Tensor2D,
              mask: tf.ones([1, logRatio.length]) as tf.Tensor2D,
            },
            aggregation,
            { totalTokens: logRatio.length, totalSequences: 1, maxLength: logRatio.length },
          )
          .loss.arraySync(),
      );
    expect(run([0.1, -0.05, 0.3], -1)).toBeCloseTo(1.123745, 5); // GSPO s, A < 0: pessimistic side
    expect(run([Math.log(5), Math.log(5)], -1)).toBeCloseTo(3, 5); // dual-clip caps at c·|A|
  });

  it('an unknown KL estimator in config fails with the list of names', async () => {
    const container = await containerFor({ algorithm: { kl: { estimator: 'k4' } } });
    expect(() => container.get<Objective>(Objective)).toThrow(PluginError);
    expect(() => container.get<Objective>(Objective)).toThrow(/No KL estimator named 'k4'/);
  });

  it('a later plugin can add an estimator of its own under the same token', async () => {
    const { ContainerModule } = await import('inversify');
    const custom: AdvantageEstimator = { name: 'grpo', estimate: () => ({ advantages: [], metrics: { custom: 1 } }) };
    const override = {
      meta: { name: 'custom', version: '1.0.0', core: '^0.1.0' },
      module: new ContainerModule(({ bind }) => void bind<AdvantageEstimator>(AdvantageEstimator).toConstantValue(custom)),
    };
    const container = await containerFor({}, [override]);
    expect(selectNamed(container, AdvantageEstimator, 'grpo', 'advantage estimator')).toBe(custom);
    expect(container.get<Algorithm>(Algorithm).estimator).toBe(custom);
  });
});

describe('algorithmNames', () => {
  it('takes the last plugin default, and the config name over any default', async () => {
    const c = await config({}, [defaults('ppo', 'gae', 'ppo')]);
    const all = [
      { name: 'grpo', estimator: 'grpo', objective: 'clipped-surrogate' },
      { name: 'ppo', estimator: 'gae', objective: 'ppo' },
    ];
    expect(algorithmNames(all, c)).toEqual({ estimator: 'gae', objective: 'ppo' });
    expect(algorithmNames(all, await config({ algorithm: { advantage: { estimator: 'rloo' } } }))).toEqual({ estimator: 'rloo', objective: 'ppo' });
    expect(algorithmNames([all[0]!, { name: 'est-only', estimator: 'mine' }], c)).toEqual({ estimator: 'mine', objective: 'clipped-surrogate' });
  });

  it('says what to do when nothing chooses', async () => {
    expect(() => algorithmNames([], { algorithm: { ...({} as ResolvedConfig['algorithm']), advantage: {} as never, objective: {} as never } })).toThrow(
      /No advantage estimator is chosen/,
    );
  });

  it('an algorithm plugin loaded later switches the Algorithm the trainer runs', async () => {
    const gae: AdvantageEstimator = { name: 'gae', estimate: () => ({ advantages: [], metrics: {} }) };
    const ppoLike: GrpoPlugin = {
      meta: { name: 'ppo-like', version: '1.0.0', core: '^0.1.0' },
      register: ({ bind }) => {
        bind(AlgorithmDefaults).toConstantValue({ name: 'ppo-like', estimator: 'gae' });
        bind(AdvantageEstimator).toConstantValue(gae);
      },
    };
    expect((await containerFor({}, [ppoLike])).get<Algorithm>(Algorithm).estimator).toBe(gae);
  });
});
