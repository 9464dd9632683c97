import { ContainerModule } from 'inversify';
import { AdvantageEstimator, AlgorithmDefaults, GrpoConfig, GrpoError, KlEstimator, Objective, Policy, ValueModel, selectNamed } from '@grpo/core';
import type { GrpoPlugin } from '@grpo/core';
import { klEstimators, surrogateOptionsFromConfig } from '@grpo/plugin-grpo';
import { TransformerPolicy, type ModelOptions } from '@grpo/plugin-transformer';
import { gae } from './gae.js';
import { KlController, type AdaptiveKlOptions } from './kl-controller.js';
import { ppoObjective } from './objective.js';
import { TransformerValueModel } from './value-model.js';

export const PLUGIN_NAME = '@grpo/plugin-ppo';
export const PLUGIN_VERSION = '0.1.0';

export interface PpoOptions {
  critic?: {
    /**
     * Sizes of a critic built from scratch (vocabulary from the policy's tokenizer). Absent: the
     * critic starts as a copy of the policy's backbone (same size) with a fresh scalar head.
     */
    model?: ModelOptions;
    /** Seed of the scratch critic's weights and of the scalar head (default: the config's seed). */
    seed?: number;
    /** Learning rate of the critic's optimizer (default: `train.learningRate` and its schedule). */
    learningRate?: number;
  };
  /** GAE discount γ (default 1). */
  gamma?: number;
  /** GAE λ (default 0.95). */
  lambda?: number;
  /** Whiten advantages over the batch's valid tokens (default true). */
  whiten?: boolean;
  /** Weight of the value loss (default 1). */
  vfCoef?: number;
  /** Value clipping c (default 0.5). */
  valueClip?: number;
  /** KL in the reward (with `algorithm.kl.inReward: true`): an adaptive β (Ziegler et al. 2019) instead of the fixed `algorithm.kl.beta`. */
  kl?: { adaptive?: AdaptiveKlOptions };
}

/** Per container: the β state shared by the `gae` estimator and the critic's checkpoint. */
const PpoKlController = Symbol.for('grpo.ppo.KlController');

/**
 * The PPO baseline: binds a critic (`ValueModel`), the `gae` advantage estimator, the `ppo`
 * objective and `AlgorithmDefaults` naming them, so `plugins: [ppo()]` alone switches from GRPO
 * to PPO (names in `algorithm.advantage.estimator` / `algorithm.objective.name` still win).
 *
 * The critic is resolved when the trainer is built, so the policy may be bound after the plugins
 * load (the CLI does that); loss aggregations and KL estimators come from `@grpo/plugin-grpo`.
 */
export function ppo(options: PpoOptions = {}): GrpoPlugin {
  const critic = options.critic ?? {};
  if (critic.learningRate !== undefined && !(critic.learningRate > 0)) throw new GrpoError(`ppo: critic.learningRate must be > 0, got ${critic.learningRate}`);
  return {
    meta: { name: PLUGIN_NAME, version: PLUGIN_VERSION, core: '^0.1.0' },
    module: new ContainerModule(({ bind }) => {
      bind<AlgorithmDefaults>(AlgorithmDefaults).toConstantValue({ name: PLUGIN_NAME, estimator: 'gae', objective: 'ppo' });

      bind<KlController>(PpoKlController)
        .toDynamicValue((ctx) => {
          const { kl } = ctx.get<GrpoConfig>(GrpoConfig).algorithm;
          if (options.kl?.adaptive && !(kl.inReward && kl.beta > 0))
            throw new GrpoError('ppo({ kl: { adaptive } }) adapts the β of the KL in the reward: set algorithm.kl.inReward: true and algorithm.kl.beta > 0 (the initial β)');
          return new KlController(options.kl?.adaptive);
        })
        .inSingletonScope();

      bind<ValueModel>(ValueModel)
        .toDynamicValue((ctx) => {
          const config = ctx.get<GrpoConfig>(GrpoConfig);
          const policy = ctx.get<Policy>(Policy, { optional: true });
          if (!policy) throw new GrpoError('ppo: the critic is built from the policy, but no Policy is bound');
          const common = { seed: critic.seed ?? config.seed, learningRate: critic.learningRate, klController: ctx.get<KlController>(PpoKlController) };
          if (critic.model) return TransformerValueModel.create({ ...common, tokenizer: policy.tokenizer, model: critic.model });
          if (!(policy instanceof TransformerPolicy))
            throw new GrpoError('ppo: the critic starts as a copy of the policy backbone, which needs a @grpo/plugin-transformer policy; give ppo({ critic: { model } }) to build one from scratch');
          return TransformerValueModel.fromPolicy(policy, common);
        })
        .inSingletonScope();

      bind<AdvantageEstimator>(AdvantageEstimator)
        .toDynamicValue((ctx) =>
          gae({
            gamma: options.gamma,
            lambda: options.lambda,
            whiten: options.whiten,
            maskTruncated: ctx.get<GrpoConfig>(GrpoConfig).algorithm.maskTruncated,
            kl: ctx.get<KlController>(PpoKlController),
          }),
        )
        .inSingletonScope();

      bind<Objective>(Objective)
        .toDynamicValue((ctx) => {
          const config = ctx.get<GrpoConfig>(GrpoConfig);
          // KL estimators come from @grpo/plugin-grpo's bindings (a user's own included), else its built-in list.
          // With KL in the reward the trainer gives the objective no reference log-probs.
          const bound = ctx.getAll<KlEstimator>(KlEstimator, { optional: true });
          const estimators = bound.length ? bound : [...klEstimators];
          const kl = selectNamed<KlEstimator>({ getAll: <T>() => estimators as T[] }, KlEstimator, config.algorithm.kl.estimator, 'KL estimator');
          return ppoObjective({
            vfCoef: options.vfCoef,
            valueClip: options.valueClip,
            surrogate: surrogateOptionsFromConfig(config, kl),
          });
        })
        .inSingletonScope();
    }),
  };
}
