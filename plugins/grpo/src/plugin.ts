import {
  AdvantageEstimator,
  Algorithm,
  ConfigError,
  definePlugin,
  GrpoConfig,
  GrpoError,
  KlEstimator,
  LossAggregation,
  Objective,
  PluginError,
  ReferenceSchedule,
  RewardShaper,
  RolloutFilter,
  selectNamed,
  type ConfigIssue,
  type ResolvedConfig,
} from '@grpo/core';
import { advantageEstimators } from './advantage.js';
import { lossAggregations } from './aggregation.js';
import { algorithmSchema } from './config.js';
import { klEstimators } from './kl.js';
import { clippedSurrogate, surrogateOptionsFromConfig } from './objective.js';
import { dynamicSampling, maskTruncated, overlongShaping, referenceSchedule } from './shaping.js';

export const PLUGIN_NAME = '@grpo/plugin-grpo';
export const PLUGIN_VERSION = '0.1.0';

export const AlgorithmDefaults = Symbol.for('grpo.AlgorithmDefaults');
/**
 * What an algorithm plugin uses when the config names no estimator or objective. The last bound
 * wins, so `plugins: [ppo()]` alone switches GRPO to PPO; a name in the config always wins.
 */
export interface AlgorithmDefaults {
  readonly name: string;
  readonly estimator?: string;
  readonly objective?: string;
}

/**
 * The advantage estimator and objective a run uses: the config's names, else the last bound
 * `AlgorithmDefaults` that names one.
 */
export function algorithmNames(defaults: readonly AlgorithmDefaults[], config: Pick<ResolvedConfig, 'algorithm'>): { estimator: string; objective: string } {
  const pick = (key: 'estimator' | 'objective') => [...defaults].reverse().find((d) => d[key])?.[key];
  const estimator = config.algorithm.advantage.estimator ?? pick('estimator');
  const objective = config.algorithm.objective.name ?? pick('objective');
  if (!estimator)
    throw new GrpoError('No advantage estimator is chosen: name one in algorithm.advantage.estimator or load an algorithm plugin such as @grpo/plugin-grpo');
  if (!objective) throw new GrpoError('No objective is chosen: name one in algorithm.objective.name or load an algorithm plugin such as @grpo/plugin-grpo');
  return { estimator, objective };
}

/**
 * The default algorithm plugin. Owns the `algorithm` config section; binds every advantage
 * estimator, KL estimator and loss aggregation (many-of-a-kind, picked by name), the
 * `clipped-surrogate` objective, and the `Algorithm` the trainer runs. From the section it also
 * contributes DAPO's dynamic-sampling filter and overlong shaper, TRL's truncation mask, and the
 * reference schedule (DeepSeekMath's reset, TR-DPO).
 */
export const grpo = definePlugin({
  meta: { name: PLUGIN_NAME, version: PLUGIN_VERSION, core: '^0.1.0' },
  config: { algorithm: algorithmSchema },
  register({ bind, config }) {
    const a = config.algorithm;
    bind<AlgorithmDefaults>(AlgorithmDefaults).toConstantValue({ name: PLUGIN_NAME, estimator: 'grpo', objective: 'clipped-surrogate' });
    for (const estimator of advantageEstimators) bind<AdvantageEstimator>(AdvantageEstimator).toConstantValue(estimator);
    for (const estimator of klEstimators) bind<KlEstimator>(KlEstimator).toConstantValue(estimator);
    for (const aggregation of lossAggregations) bind<LossAggregation>(LossAggregation).toConstantValue(aggregation);
    bind<Objective>(Objective)
      .toDynamicValue((ctx) => clippedSurrogate(surrogateOptionsFromConfig(config, selectNamed<KlEstimator>(ctx, KlEstimator, a.kl.estimator, 'KL estimator'))))
      .inSingletonScope();
    bind<Algorithm>(Algorithm)
      .toDynamicValue((ctx) => {
        const cfg = ctx.get<ResolvedConfig>(GrpoConfig);
        const names = algorithmNames(ctx.getAll<AlgorithmDefaults>(AlgorithmDefaults), cfg);
        const { estimator: _name, ...advantageOptions } = cfg.algorithm.advantage;
        const { beta, inReward } = cfg.algorithm.kl;
        // Every unknown name at once, each at its config path (not only the first).
        const issues: ConfigIssue[] = [];
        const pick = <T extends { readonly name: string }>(token: symbol, name: string, what: string, path: string): T | undefined => {
          try {
            return selectNamed<T>(ctx, token, name, what);
          } catch (error) {
            if (!(error instanceof PluginError)) throw error;
            issues.push({ path, message: error.message });
            return undefined;
          }
        };
        const kl = pick<KlEstimator>(KlEstimator, cfg.algorithm.kl.estimator, 'KL estimator', 'algorithm.kl.estimator');
        const estimator = pick<AdvantageEstimator>(AdvantageEstimator, names.estimator, 'advantage estimator', 'algorithm.advantage.estimator');
        const aggregation = pick<LossAggregation>(LossAggregation, cfg.algorithm.lossAggregation, 'loss aggregation', 'algorithm.lossAggregation');
        // The objectives are built with the KL estimator: looked up only when that one exists.
        const objective = kl && pick<Objective>(Objective, names.objective, 'objective', 'algorithm.objective.name');
        if (issues.length || !estimator || !aggregation || !objective) throw new ConfigError(cfg.source, issues);
        return {
          estimator,
          advantageOptions,
          objective,
          aggregation,
          kl: { placement: beta > 0 ? (inReward ? 'reward' : 'loss') : 'none', beta },
        } satisfies Algorithm;
      })
      .inSingletonScope();
    if (a.dynamicSampling.enabled) bind<RolloutFilter>(RolloutFilter).toConstantValue(dynamicSampling(a.dynamicSampling));
    if (a.overlong.enabled) bind<RewardShaper>(RewardShaper).toConstantValue(overlongShaping(a.overlong));
    if (a.maskTruncated) bind<RewardShaper>(RewardShaper).toConstantValue(maskTruncated);
    if (a.kl.refResetEvery > 0 || a.kl.trDpoAlpha !== undefined) bind<ReferenceSchedule>(ReferenceSchedule).toConstantValue(referenceSchedule(a.kl));
  },
});
