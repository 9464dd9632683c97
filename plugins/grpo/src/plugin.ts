import { ContainerModule } from 'inversify';
import { AdvantageEstimator, AlgorithmDefaults, GrpoConfig, KlEstimator, LossAggregation, Objective, selectNamed } from '@grpo/core';
import type { GrpoPlugin } from '@grpo/core';
import { advantageEstimators } from './advantage.js';
import { lossAggregations } from './aggregation.js';
import { klEstimators } from './kl.js';
import { clippedSurrogate, surrogateOptionsFromConfig } from './objective.js';

export const PLUGIN_NAME = '@grpo/plugin-grpo';
export const PLUGIN_VERSION = '0.1.0';

/**
 * The default algorithm plugin: binds every advantage estimator, KL estimator and loss
 * aggregation (many-of-a-kind tokens, picked by name from config with `selectNamed`), and the
 * `clipped-surrogate` objective built from `algorithm.objective` and `algorithm.kl`.
 */
export function grpo(): GrpoPlugin {
  return {
    meta: { name: PLUGIN_NAME, version: PLUGIN_VERSION, core: '^0.1.0' },
    module: new ContainerModule(({ bind }) => {
      bind<AlgorithmDefaults>(AlgorithmDefaults).toConstantValue({ name: PLUGIN_NAME, estimator: 'grpo', objective: 'clipped-surrogate' });
      for (const estimator of advantageEstimators) bind<AdvantageEstimator>(AdvantageEstimator).toConstantValue(estimator);
      for (const estimator of klEstimators) bind<KlEstimator>(KlEstimator).toConstantValue(estimator);
      for (const aggregation of lossAggregations) bind<LossAggregation>(LossAggregation).toConstantValue(aggregation);
      bind<Objective>(Objective)
        .toDynamicValue((ctx) => {
          const config = ctx.get<GrpoConfig>(GrpoConfig);
          return clippedSurrogate(surrogateOptionsFromConfig(config, selectNamed<KlEstimator>(ctx, KlEstimator, config.algorithm.kl.estimator, 'KL estimator')));
        })
        .inSingletonScope();
    }),
  };
}
