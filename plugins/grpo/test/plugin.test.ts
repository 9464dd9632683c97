import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AdvantageEstimator,
  AlgorithmDefaults,
  assembleContainer,
  configSchema,
  KlEstimator,
  LossAggregation,
  Objective,
  PluginError,
  selectNamed,
  type GrpoConfigInput,
  type ResolvedConfig,
} from '@grpo/core';
import grpoDefault, { grpo } from '../src/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function config(input: GrpoConfigInput = {}): ResolvedConfig {
  return { ...configSchema.parse(input), plugins: [], source: 'test' };
}

describe('grpo() plugin', () => {
  it('is the default export and carries its metadata', () => {
    expect(grpoDefault).toBe(grpo);
    expect(grpo().meta).toEqual({ name: '@grpo/plugin-grpo', version: '0.1.0', core: '^0.1.0' });
    expect(grpo().module).toBeDefined();
  });

  it('binds every estimator, KL estimator and aggregation; selectNamed finds each name', async () => {
    const container = await assembleContainer({ config: config(), plugins: [grpo()] });
    const names: [symbol, string, string[]][] = [
      [AdvantageEstimator, 'advantage estimator', ['grpo', 'grpo-process', 'dr-grpo', 'rloo', 'reinforce-plus-plus', 'grpo-batch', 'rft']],
      [KlEstimator, 'KL estimator', ['k1', 'abs', 'k2', 'k3']],
      [LossAggregation, 'loss aggregation', ['seq-mean-token-mean', 'token-mean', 'seq-mean-token-sum', 'constant']],
    ];
    for (const [token, what, list] of names) {
      expect(container.getAll<{ name: string }>(token).map((x) => x.name).sort()).toEqual([...list].sort());
      for (const name of list) expect(selectNamed(container, token, name, what).name).toBe(name);
    }
    expect(() => selectNamed(container, KlEstimator, 'k9', 'KL estimator')).toThrow(/No KL estimator named 'k9'.*Available: k1, abs, k2, k3/);
  });

  it('the default config selects grpo, seq-mean-token-mean and clipped-surrogate with k3', async () => {
    const c = config();
    const container = await assembleContainer({ config: c, plugins: [grpo()] });
    // The config names no estimator or objective: the plugin's AlgorithmDefaults choose them.
    expect(c.algorithm.advantage.estimator).toBeUndefined();
    expect(container.getAll<AlgorithmDefaults>(AlgorithmDefaults)).toEqual([{ name: '@grpo/plugin-grpo', estimator: 'grpo', objective: 'clipped-surrogate' }]);
    expect(selectNamed(container, AdvantageEstimator, 'grpo', 'advantage estimator').name).toBe('grpo');
    expect(selectNamed(container, LossAggregation, c.algorithm.lossAggregation, 'loss aggregation').name).toBe('seq-mean-token-mean');
    const objective = container.get<Objective>(Objective);
    expect(objective.name).toBe('clipped-surrogate');
    expect(container.get<Objective>(Objective)).toBe(objective); // one per container
  });

  it('builds the objective from algorithm.objective and algorithm.kl', async () => {
    // ε_high 0.28, β 0.5 with k1, entropy coefficient 0.1. One token: ρ = 1.5, A = +1, logp −1.0, ref −1.2, entropy 2.
    // ℓ = −1.28 (clip-higher) + 0.5·0.2 (k1) − 0.1·2 = −1.38.
    const c = config({
      algorithm: {
        objective: { epsilonLow: 0.2, epsilonHigh: 0.28, entropyCoef: 0.1 },
        kl: { beta: 0.5, estimator: 'k1' },
      },
    });
    const container = await assembleContainer({ config: c, plugins: [grpo()] });
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
    const c = config({ algorithm: { objective: { dualClip: 3, ratioLevel: 'sequence' }, kl: { beta: 0 } } });
    const container = await assembleContainer({ config: c, plugins: [grpo()] });
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
    const container = await assembleContainer({ config: config({ algorithm: { kl: { estimator: 'k4' } } }), plugins: [grpo()] });
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
    const container = await assembleContainer({ config: config(), plugins: [grpo(), override] });
    expect(selectNamed(container, AdvantageEstimator, 'grpo', 'advantage estimator')).toBe(custom);
  });
});
