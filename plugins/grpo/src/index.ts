// @grpo/plugin-grpo: GRPO and its relatives — the `algorithm` config section, advantage
// estimators, KL estimators, loss aggregations, the clipped-surrogate objective, DAPO's filter
// and shapers, and the reference schedules.
import { grpo } from './plugin.js';

export { AlgorithmDefaults, algorithmNames, grpo, PLUGIN_NAME, PLUGIN_VERSION } from './plugin.js';
export { algorithmSchema, type AlgorithmConfig } from './config.js';
export {
  DEFAULT_ADVANTAGE_OPTIONS,
  advantageOptions,
  broadcast,
  centered,
  groupStats,
  leaveOneOut,
  processAdvantages,
  stepReturns,
  whiten,
  zScore,
} from './stats.js';
export type { GroupStats, StdKind, StepRewardAt } from './stats.js';
export { advantageEstimators, drGrpo, grpoBatch, grpoOutcome, grpoProcess, reinforcePlusPlus, rft, rloo } from './advantage.js';
export { absKl, k1, k2, k3, klEstimators } from './kl.js';
export { constantNormalizer, contextOf, lossAggregations, seqMeanTokenMean, seqMeanTokenSum, tokenMean } from './aggregation.js';
export { clippedSurrogate, surrogateOptionsFromConfig } from './objective.js';
export type { ClippedSurrogateOptions } from './objective.js';
export { dynamicSampling, hasRewardVariance, maskTruncated, overlongPenalty, overlongShaping, referenceSchedule } from './shaping.js';

export default grpo;
