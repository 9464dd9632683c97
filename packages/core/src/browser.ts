// @grpo/core in a browser (the `browser` export condition): the same contracts, plugin system,
// pipeline and trainer as the Node entry, without what needs Node — config files (cosmiconfig),
// run directories, locks, the directory checkpointer, JSONL files and sinks, worker-thread rewards.
// Resolve a config from plugin objects with `resolvePluginConfig`. index.ts re-exports this whole
// list and adds the Node-only parts, so a new export that runs anywhere goes here, once.

// Contracts: a token and an interface of the same name (one import gives both).
export { Algorithm, AdvantageEstimator, KlEstimator, LossAggregation, Objective } from './contracts/algorithm.js';
export type { AdvantageInput, AdvantageOptions, AggregationContext, ObjectiveInput, ObjectiveResult } from './contracts/algorithm.js';
export { TensorBackend } from './contracts/backend.js';
export { Checkpointer, type Checkpointable, type OptimizerState } from './contracts/checkpoint.js';
export { CliCommand, type CliContext, type CliIo } from './contracts/cli.js';
export { EvalDataset, PromptDataset } from './contracts/data.js';
export { Environment, type EnvironmentContext, type EnvironmentStep } from './contracts/environment.js';
export { TrainerHook, type RolloutsEvent } from './contracts/events.js';
export { MetricsSink } from './contracts/metrics.js';
export {
  Policy,
  PolicyFactory,
  type FrozenPolicy,
  type IdCompletion,
  type TurnRequest,
  type TurnSession,
  type LogProbModel,
  type PolicyRequest,
  type SamplingOptions,
  type TokenLogProbs,
} from './contracts/policy.js';
export {
  AnswerExtractor,
  RewardFunction,
  RewardModel,
  RewardScorer,
  type RewardExample,
  type RewardInput,
  type RewardResult,
  type RewardScore,
  type ScoringRequest,
  type StepReward,
} from './contracts/reward.js';
export {
  RewardShaper,
  RolloutEngine,
  RolloutFilter,
  type EngineHealth,
  type GenerationRequest,
  type PlannedGeneration,
  type ShapingContext,
  type SyncOptions,
} from './contracts/rollout.js';
export type { Stateful } from './contracts/state.js';
export { Tokenizer, type ChatMessage, type ChatTemplate, type ChatTemplateOptions } from './contracts/tokenizer.js';
export { ReferenceSchedule, UpdateParticipant, type ParticipantInput } from './contracts/update.js';

// Records that flow between the stages of a step.
export type {
  AdvantageBatch,
  Completion,
  DatasetRow,
  FinishReason,
  Rollout,
  SampleLog,
  ScoredGroup,
  StepSummary,
  TokenBatch,
  TokenStepReward,
  TrainerState,
  TrajectoryTurn,
} from './records.js';

export {
  BackendUnavailableError,
  CheckpointError,
  ConfigChangeError,
  ConfigError,
  ConfigNotFoundError,
  DataError,
  EngineError,
  EnvironmentError,
  errorMessage,
  GrpoError,
  PluginError,
  RewardError,
  type ConfigIssue,
} from './errors.js';
export { CORE_VERSION } from './version.js';

// Plugins and configuration.
export { definePlugin, GrpoConfig } from './plugin/types.js';
export type { GrpoPlugin, PluginContext, PluginDefinition, PluginEntry, PluginFactory, PluginMeta, PluginOptions, ResolvedConfig } from './plugin/types.js';
export { assembleContainer, boundValues, flattenPlugins, selectNamed } from './plugin/container.js';
export { coreConfigSchema } from './config/schema.js';
export type { ConfigSections, GrpoConfigInput, PolicySections, Section } from './config/schema.js';
export { configSchemaFor, type SectionOwners } from './config/sections.js';
export { resolvePluginConfig } from './config/resolve.js';
export * as field from './config/zod-helpers.js';

// Running: assembling a run, the loop, evaluation and what they write.
export { DEFAULT_MICRO_BATCH, policyEngine, selectEnvironment, Trainer, type RunDescription, type TrainerParts } from './trainer/trainer.js';
export {
  checkEnvironment,
  environmentReward,
  multiTurnGenerate,
  trajectoryMetrics,
  type EnvironmentRunOptions,
  type MultiTurnContext,
  type MultiTurnRequest,
} from './pipeline/multi-turn.js';
export { callSyntax, defineTool, describeTools, toolEnvironment, type Tool, type ToolEnvironmentOptions } from './environment/tools.js';
export { chatCallSyntax, chatToolEnvironment, chatToolSpecs, type ChatToolEnvironmentOptions } from './environment/chat-tools.js';
export { accuracyReward, evaluate, passAndMajority, type AccuracyReport, type EvaluateOptions, type Evaluation } from './pipeline/evaluate.js';
export { renderPrompt, type ChatRendering } from './pipeline/rollout.js';
export {
  CORRECTION_MODES,
  correctionWeights,
  engineLogprobs,
  importanceCorrections,
  mismatchMetrics,
  plainSampling,
  type CorrectionBounds,
  type CorrectionInput,
  type CorrectionMode,
  type ImportanceCorrection,
} from './pipeline/correction.js';
export { checkEngineHealth, syncEngineWeights } from './pipeline/engine.js';
export {
  rewardInput,
  runRewards,
  scoreRollouts,
  scoreWith,
  type RewardRunOptions,
  type ScoredBatch,
  type ScorerContext,
  type ValidatedScore,
} from './pipeline/score.js';
export { checkMessages } from './data/messages.js';

// Building blocks plugins share: one copy each.
export { AdamW, type AdamWOptions } from './trainer/adamw.js';
export { learningRateAt } from './trainer/schedule.js';
export { Rng } from './util/rng.js';
export { allEqual, mean, std } from './util/stats.js';
export { charToToken, tokenCharEnds } from './util/text.js';
