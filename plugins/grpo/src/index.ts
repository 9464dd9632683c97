// @grpo/plugin-grpo: GRPO and its relatives — advantage estimators, KL estimators, loss
// aggregations and the clipped-surrogate objective.
import { grpo } from './plugin.js';

export { grpo, PLUGIN_NAME, PLUGIN_VERSION } from './plugin.js';
export {
  DEFAULT_ADVANTAGE_OPTIONS,
  advantageOptions,
  allEqual,
  broadcast,
  centered,
  groupStats,
  leaveOneOut,
  mean,
  processAdvantages,
  std,
  stepReturns,
  whiten,
  zScore,
} from './stats.js';
export type { GroupStats, StdKind, StepRewardAt } from './stats.js';
export { advantageEstimators, drGrpo, grpoBatch, grpoOutcome, grpoProcess, reinforcePlusPlus, rloo } from './advantage.js';
export { absKl, k1, k2, k3, klEstimators } from './kl.js';
export { constantNormalizer, contextOf, lossAggregations, seqMeanTokenMean, seqMeanTokenSum, tokenMean } from './aggregation.js';
export { clippedSurrogate, surrogateOptionsFromConfig } from './objective.js';
export type { ClippedSurrogateOptions } from './objective.js';

export default grpo;
