/**
 * The training loop. One step is a pipeline of stages (`../pipeline/`), each a function over plain
 * records: collect (rollout → score → filter → shape) → prepare → estimate → update; this class
 * only holds the run's state (step, RNG, data cursor, optimizer, π_ref) and calls hooks, sinks,
 * evaluation and checkpoints around the steps.
 */
import type { Container } from 'inversify';
import { Algorithm } from '../contracts/algorithm.js';
import type { Checkpointable, Checkpointer, OptimizerState } from '../contracts/checkpoint.js';
import { EvalDataset, PromptDataset } from '../contracts/data.js';
import { Environment } from '../contracts/environment.js';
import { TrainerHook } from '../contracts/events.js';
import { MetricsSink } from '../contracts/metrics.js';
import { Policy, type FrozenPolicy, type SamplingOptions } from '../contracts/policy.js';
import { AnswerExtractor, RewardFunction, RewardScorer } from '../contracts/reward.js';
import { RewardShaper, RolloutEngine, RolloutFilter, type PlannedGeneration } from '../contracts/rollout.js';
import type { Stateful } from '../contracts/state.js';
import { ReferenceSchedule, UpdateParticipant } from '../contracts/update.js';
import { GrpoConfig, type ResolvedConfig } from '../plugin/types.js';
import { GrpoError } from '../errors.js';
import { selectNamed } from '../plugin/container.js';
import type { DatasetRow, SampleLog, ScoredGroup, StepSummary, TrainerState } from '../records.js';
import { accuracyReward, evaluate, findAccuracyReward, type Evaluation } from '../pipeline/evaluate.js';
import { estimate } from '../pipeline/estimate.js';
import { correctionWeights, engineLogprobs, mismatchMetrics, plainSampling } from '../pipeline/correction.js';
import { checkEngineHealth, syncEngineWeights } from '../pipeline/engine.js';
import { disposePrepared, perSample, prepare, type PreparedBatch } from '../pipeline/prepare.js';
import { checkEnvironment, environmentReward, multiTurnGenerate, type EnvironmentRunOptions } from '../pipeline/multi-turn.js';
import { collect, renderPrompt, rollout } from '../pipeline/rollout.js';
import { update } from '../pipeline/update.js';
import { mean } from '../util/stats.js';
import { Rng } from '../util/rng.js';
import { AdamW } from './adamw.js';
import { DataOrder } from './data-order.js';
import { learningRateAt } from './schedule.js';

/** Everything the loop runs; `Trainer.fromContainer` resolves it from the DI container. */
export interface TrainerParts {
  config: ResolvedConfig;
  policy: Policy;
  algorithm: Algorithm;
  /** Samples rollouts; `policyEngine(policy)` samples in process. */
  engine: RolloutEngine;
  rewards: readonly RewardFunction[];
  /** Runs the rewards of training steps elsewhere (the last bound `RewardScorer`); absent: in process. */
  scorer?: RewardScorer;
  /**
   * Multi-turn rollouts: the environment the model talks with (`generation.environment`); its
   * rewards are added as a reward named after it. Without one, rollouts are single completions.
   */
  environment?: Environment;
  dataset: { readonly size: number; get(index: number): DatasetRow };
  evalDataset?: { readonly size: number; get(index: number): DatasetRow };
  /** Final-answer extractor for maj@k. */
  extractor?: AnswerExtractor;
  filters?: readonly RolloutFilter[];
  shapers?: readonly RewardShaper[];
  referenceSchedules?: readonly ReferenceSchedule[];
  participants?: readonly UpdateParticipant[];
  sinks?: readonly MetricsSink[];
  hooks?: readonly TrainerHook[];
}

/** What a run trains with, by name (`Trainer.describe`). */
export interface RunDescription {
  readonly estimator: string;
  readonly objective: string;
  readonly aggregation: string;
  readonly kl: Algorithm['kl'];
  /** Every reward with its weight in the total (`rewards.weights`, else 1). */
  readonly rewards: readonly { readonly name: string; readonly weight: number }[];
  readonly engine: string;
  /** The multi-turn environment, when there is one. */
  readonly environment?: string;
  readonly filters: readonly string[];
  readonly shapers: readonly string[];
  readonly participants: readonly string[];
}

/**
 * Sequences per forward/backward pass when the config sets none. Gradient accumulation makes the
 * result identical to one big pass, and it bounds activation memory (the wasm heap of tfjs is
 * limited; one pass over 128 sequences of ~100 tokens with a 4-layer model exhausted it).
 */
export const DEFAULT_MICRO_BATCH = 32;

/**
 * The in-process rollout engine: the policy's own sampler (`generation.engine: policy`). Prompts are
 * its own `encodePrompt(text)`, so it samples from the text; the turns of a multi-turn trajectory
 * (`continued` requests) it samples from the exact ids, with `Policy.generateFromIds`, or with the
 * policy's `openTurns` session (the KV cache kept from turn to turn) when it has one.
 */
export function policyEngine(policy: Pick<Policy, 'generate' | 'generateFromIds' | 'openTurns'>): RolloutEngine {
  return {
    name: 'policy',
    trainerSampler: true,
    // The policy's own session carries the KV cache from turn to turn.
    ...(policy.openTurns ? { openTurns: () => policy.openTurns!() } : {}),
    generate: async (requests, groupSize, options) => {
      if (!requests.some((r) => r.continued))
        return policy.generate(
          requests.map((r) => r.text),
          groupSize,
          options,
        );
      if (!policy.generateFromIds)
        throw new GrpoError('multi-turn rollouts need a policy that samples from token ids (Policy.generateFromIds); this one does not');
      const out = await policy.generateFromIds(
        requests.map((r) => r.ids),
        groupSize,
        options,
      );
      return out.map((group) => group.map((c) => ({ ...c, text: c.text ?? '' })));
    },
  };
}

/** The environment `name` names, or the only one bound, or none when none is bound. */
export function selectEnvironment(environments: readonly Environment[], name: string | undefined): Environment | undefined {
  if (name !== undefined) return selectNamed<Environment>({ getAll: <U>() => environments as U[] }, Environment, name, 'environment');
  if (environments.length > 1)
    throw new GrpoError(
      `${environments.length} environments are bound (${environments.map((e) => e.name).join(', ')}); choose one with generation.environment.name`,
    );
  return environments[0];
}

export class Trainer implements Checkpointable {
  readonly config: ResolvedConfig;
  readonly policy: Policy;
  readonly reference: FrozenPolicy | undefined;
  readonly optimizer: AdamW;
  private readonly parts: TrainerParts;
  private readonly order: DataOrder;
  private readonly valuer: UpdateParticipant | undefined;
  /** The reward functions, with the environment's reward when there is an environment. */
  private readonly rewards: readonly RewardFunction[];
  private rng: Rng;
  private cursor = 0;
  private stepIndex = 0;
  /** False until the engine serves the policy's current weights: before the first rollout and after each update. */
  private engineInSync = false;

  constructor(parts: TrainerParts) {
    this.parts = parts;
    this.config = parts.config;
    this.policy = parts.policy;
    const t = this.config.train;
    const batch = t.promptsPerStep * t.groupSize;
    const mini = t.miniBatchSize ?? batch;
    const micro = t.microBatchSize ?? Math.min(mini, DEFAULT_MICRO_BATCH);
    if (mini > batch || batch % mini !== 0)
      throw new GrpoError(`train.miniBatchSize (${mini}) must divide the batch of promptsPerStep × groupSize = ${batch} sequences`);
    if (micro > mini || mini % micro !== 0) throw new GrpoError(`train.microBatchSize (${micro}) must divide train.miniBatchSize (${mini})`);
    const { estimator, kl } = parts.algorithm;
    const valuers = (parts.participants ?? []).filter((p) => p.values);
    if (valuers.length > 1) throw new GrpoError(`two update participants give values (${valuers.map((p) => p.name).join(', ')}); the estimator can use one`);
    this.valuer = valuers[0];
    if (estimator.needsValues && !this.valuer)
      throw new GrpoError(`advantage estimator '${estimator.name}' needs a value model (critic): add a plugin that contributes one, e.g. @grpo/plugin-ppo`);
    // No KL penalty loads no reference model at all; a policy with a cheaper π_ref (LoRA: the base, adapters off) gives it.
    this.reference = kl.placement !== 'none' ? (this.policy.referencePolicy?.() ?? this.policy.snapshot()) : undefined;
    this.optimizer = new AdamW({ beta1: t.adamBeta1, beta2: t.adamBeta2, eps: t.adamEps, weightDecay: t.weightDecay });
    this.order = new DataOrder(parts.dataset.size, this.config.seed);
    this.rewards = parts.environment ? [...parts.rewards, environmentReward(parts.environment.name, this.config.rewards.penalty)] : parts.rewards;
    this.rng = new Rng(this.config.seed);
  }

  /**
   * Resolves every part from a container built by `assembleContainer` with the policy bound
   * (`prepareRun` does both). The rollout engine is the one `generation.engine` names; core's
   * in-process engine is named `policy`.
   */
  static async fromContainer(container: Container): Promise<Trainer> {
    const config = container.get<ResolvedConfig>(GrpoConfig);
    if (!container.isBound(Algorithm)) throw new GrpoError('No algorithm is bound: load an algorithm plugin such as @grpo/plugin-grpo');
    if (!container.isBound(PromptDataset))
      throw new GrpoError('No training data: set data.train to a JSONL file, or add a plugin that provides a PromptDataset.');
    const all = <T>(token: symbol) => container.getAllAsync<T>(token, { optional: true });
    const policy = await container.getAsync<Policy>(Policy);
    // Core's in-process engine first, so a plugin's engine of the same name replaces it.
    const engines = [policyEngine(policy), ...(await all<RolloutEngine>(RolloutEngine))];
    const dataset = await container.getAsync<PromptDataset>(PromptDataset);
    const environment = selectEnvironment(await all<Environment>(Environment), config.generation.environment.name);
    // A broken environment fails here, before the first step, naming what is wrong.
    if (environment) await checkEnvironment(environment, dataset.get(0), config.generation.environment.timeoutMs);
    return new Trainer({
      config,
      policy,
      algorithm: await container.getAsync<Algorithm>(Algorithm),
      engine: selectNamed<RolloutEngine>({ getAll: <U>() => engines as U[] }, RolloutEngine, config.generation.engine, 'rollout engine'),
      rewards: await all<RewardFunction>(RewardFunction),
      scorer: (await all<RewardScorer>(RewardScorer)).at(-1),
      ...(environment ? { environment } : {}),
      dataset,
      evalDataset: container.isBound(EvalDataset) ? await container.getAsync<PromptDataset>(EvalDataset) : undefined,
      extractor: container.isBound(AnswerExtractor) ? await container.getAsync<AnswerExtractor>(AnswerExtractor) : undefined,
      filters: await all<RolloutFilter>(RolloutFilter),
      shapers: await all<RewardShaper>(RewardShaper),
      referenceSchedules: await all<ReferenceSchedule>(ReferenceSchedule),
      participants: await all<UpdateParticipant>(UpdateParticipant),
      sinks: await all<MetricsSink>(MetricsSink),
      hooks: await all<TrainerHook>(TrainerHook),
    });
  }

  get step(): number {
    return this.stepIndex;
  }

  /** The run's hooks and update participants: the parts a checkpoint saves the state of, when they keep some. */
  get components(): readonly Stateful[] {
    return [...(this.parts.participants ?? []), ...(this.parts.hooks ?? [])];
  }

  /** True when an evaluation dataset is configured. */
  get hasEvalDataset(): boolean {
    return this.parts.evalDataset !== undefined;
  }

  /** What this run trains with, by name: for the console line at the start of a run and for logs. */
  describe(): RunDescription {
    const { algorithm: a, engine } = this.parts;
    const rewards = this.rewards;
    const weights = this.config.rewards.weights;
    return {
      estimator: a.estimator.name,
      objective: a.objective.name,
      aggregation: a.aggregation.name,
      kl: { placement: a.kl.placement, beta: a.kl.beta },
      rewards: rewards.map((r) => ({ name: r.name, weight: weights[r.name] ?? 1 })),
      engine: engine.name,
      ...(this.parts.environment ? { environment: this.parts.environment.name } : {}),
      filters: (this.parts.filters ?? []).map((f) => f.name),
      shapers: (this.parts.shapers ?? []).map((s) => s.name),
      participants: (this.parts.participants ?? []).map((p) => p.name),
    };
  }

  /** Trainer state for a checkpoint (the optimizer and weights are saved alongside). */
  getState(): TrainerState {
    return { step: this.stepIndex, rng: this.rng.getState(), dataCursor: this.cursor };
  }

  setState(state: TrainerState): void {
    this.stepIndex = state.step;
    this.rng = Rng.fromState(state.rng);
    this.cursor = state.dataCursor;
  }

  getOptimizerState(): OptimizerState {
    return this.optimizer.getState(this.policy.trainableVariables());
  }

  setOptimizerState(state: OptimizerState): void {
    this.optimizer.setState(state, this.policy.trainableVariables());
  }

  private nextRows(count: number): DatasetRow[] {
    const rows = this.order.take(this.cursor, count).map((i) => this.parts.dataset.get(i));
    this.cursor += count;
    return rows;
  }

  private readonly render = (row: DatasetRow): string => {
    const chat = this.config.data.chat;
    // An environment's template variables (a chat tool environment's `tools`) come before the config's.
    const fromEnvironment = this.parts.environment?.chatVariables;
    const variables = fromEnvironment ? { ...fromEnvironment, ...chat?.variables } : chat?.variables;
    return renderPrompt(this.config.data.promptTemplate, row, this.config.data.promptField, {
      tokenizer: this.policy.tokenizer,
      ...chat,
      ...(variables ? { variables } : {}),
    });
  };

  /** How rollouts talk with the environment, when there is one. */
  private environmentOptions(): EnvironmentRunOptions {
    const { generation: g, rewards } = this.config;
    const e = g.environment;
    return { maxTurns: e.maxTurns, maxTokens: e.maxTokens ?? e.maxTurns * g.maxNewTokens, timeoutMs: e.timeoutMs, onError: rewards.onError };
  }

  /** The longest completion (a whole trajectory with an environment), for length normalisers and overlong shaping. */
  private maxCompletionTokens(): number {
    return this.parts.environment ? this.environmentOptions().maxTokens : this.config.generation.maxNewTokens;
  }

  /** The scheduled learning rate of the optimizer's next step (one step per mini-batch per iteration). */
  private learningRate(): number {
    const t = this.config.train;
    const batch = t.promptsPerStep * t.groupSize;
    return learningRateAt(this.optimizer.iterations, {
      learningRate: t.learningRate,
      schedule: t.lrSchedule,
      warmupSteps: t.warmupSteps,
      totalSteps: t.steps * t.numIterations * Math.ceil(batch / (t.miniBatchSize ?? batch)),
      minLrRatio: t.minLrRatio,
    });
  }

  /** Sequences per forward/backward pass for a batch of `total`. */
  private microBatchSize(total: number): number {
    const t = this.config.train;
    return Math.min(t.microBatchSize ?? DEFAULT_MICRO_BATCH, Math.min(t.miniBatchSize ?? total, total));
  }

  /** One training step. Returns its metrics and sample completions. */
  async trainStep(): Promise<StepSummary> {
    const started = performance.now();
    const step = this.stepIndex;
    const { config, policy, parts } = this;
    const { train, generation } = config;
    for (const h of parts.hooks ?? []) await h.onStepStart?.({ step });

    const g = generation;
    const metrics: Record<string, number> = {};
    if (!this.engineInSync) {
      if (parts.engine.syncWeights) metrics['timing/sync_weights'] = await syncEngineWeights(parts.engine, policy, g.syncTimeoutSeconds);
      this.engineInSync = true;
    }
    const sampling = {
      maxNewTokens: g.maxNewTokens,
      temperature: g.temperature,
      topK: g.topK || undefined,
      topP: g.topP < 1 ? g.topP : undefined,
      stop: g.stop,
    };
    const lookahead = parts.engine.lookahead ?? 0;
    // Multi-turn steps generate turn by turn, so they cannot be announced ahead.
    if (lookahead > 0 && parts.engine.plan && !parts.environment) await parts.engine.plan(this.planned(step, lookahead, sampling));
    const collected = await collect({
      nextRows: (count) => this.nextRows(count),
      rollout: (rows) =>
        rollout(rows, {
          engine: parts.engine,
          policy,
          render: this.render,
          groupSize: train.groupSize,
          sampling: { ...sampling, seed: this.rng.seed() },
          ...(parts.environment
            ? { multiTurn: { environment: parts.environment, tokenizer: policy.tokenizer, options: this.environmentOptions(), maxSeqLen: policy.maxSeqLen } }
            : {}),
        }),
      rewards: this.rewards,
      rewardOptions: config.rewards,
      scorer: parts.scorer,
      step,
      tokenizer: policy.tokenizer,
      filters: parts.filters ?? [],
      shapers: parts.shapers ?? [],
      shaping: { maxNewTokens: this.maxCompletionTokens() },
      promptsPerStep: train.promptsPerStep,
    });
    const { groups } = collected;
    Object.assign(metrics, collected.metrics, parts.engine.stepMetrics?.());
    for (const h of parts.hooks ?? []) await h.onRollouts?.({ step, groups });

    let mark = performance.now();
    const lap = () => {
      const now = performance.now();
      const seconds = (now - mark) / 1000;
      mark = now;
      return seconds;
    };
    const { algorithm } = parts;
    const total = groups.reduce((a, gr) => a + gr.completions.length, 0);
    const mini = Math.min(train.miniBatchSize ?? total, total);
    const correcting = this.correcting();
    // An engine other than the trainer's sampler is always measured against the trainer's π_old.
    const external = parts.engine.trainerSampler !== true;
    const prepared = prepare(groups, {
      policy,
      reference: this.reference,
      valuer: this.valuer,
      // π_old needs its own forward pass unless the update's first pass can stand in for it.
      needOldLogprobs:
        correcting || external || train.numIterations > 1 || mini < total || algorithm.estimator.needsLogprobs === true || algorithm.kl.placement === 'reward',
      microBatchSize: this.microBatchSize(total),
    });
    try {
      metrics['timing/reference_and_old_logprobs'] = lap();
      const tokenWeights = correcting || external ? this.offPolicy(groups, prepared, sampling, correcting, metrics) : undefined;
      const estimated = estimate(groups, prepared, algorithm, { needsReturns: this.valuer !== undefined });
      Object.assign(metrics, estimated.metrics);
      const lengths = prepared.samples.map((s) => s.completionIds.length);
      const completions = groups.flatMap((gr) => gr.completions);
      metrics['completions/mean_length'] = mean(lengths);
      metrics['completions/min_length'] = lengths.length ? Math.min(...lengths) : 0;
      metrics['completions/max_length'] = lengths.length ? Math.max(...lengths) : 0;
      metrics['completions/clipped_ratio'] = mean(completions.map((c) => (c.finishReason === 'length' ? 1 : 0)));

      const updated = update(prepared, estimated, {
        policy,
        algorithm,
        participants: parts.participants ?? [],
        valuer: this.valuer,
        optimizer: this.optimizer,
        learningRate: () => this.learningRate(),
        numIterations: train.numIterations,
        miniBatchSize: train.miniBatchSize ?? Number.POSITIVE_INFINITY,
        maxGradNorm: train.maxGradNorm,
        maxLength: this.maxCompletionTokens(),
        step,
        onNonFinite: train.onNonFinite,
        tokenWeights,
      });
      metrics['timing/update'] = lap();
      metrics['timing/generate'] = collected.generateSeconds;
      metrics['timing/generate_tokens_per_sec'] = collected.generatedTokens / Math.max(collected.allGenerateSeconds, 1e-9);
      metrics['timing/score'] = collected.scoreSeconds;
      Object.assign(metrics, updated.metrics);
      metrics.loss = updated.loss;
      metrics.grad_norm = updated.gradNorm;
      metrics.learning_rate = updated.lr;
      // Only on a skipped step, so a run without one logs the same keys as before.
      if (updated.skipped) metrics['train/skipped_nonfinite'] = 1;

      if (this.reference) for (const s of parts.referenceSchedules ?? []) s.afterUpdate({ step, policy, reference: this.reference });
      // The engine now lags the policy: the next step syncs it first (none after the last step).
      this.engineInSync = false;

      const seconds = (performance.now() - started) / 1000;
      metrics.step_time = seconds;
      metrics.tokens_per_sec = collected.generatedTokens / seconds;
      this.stepIndex++;
      return { step, metrics, samples: this.samples(groups, estimated.advantages) };
    } finally {
      disposePrepared(prepared);
    }
  }

  /**
   * The first generation of each of the next `lookahead` steps (not past `train.steps`), as they
   * will be asked for when no filter refills a batch: the data order and the seeds are peeked at,
   * not moved. A refill makes the next step's rows differ, and the engine then samples it anew.
   */
  private planned(step: number, lookahead: number, sampling: Omit<SamplingOptions, 'seed'>): PlannedGeneration[] {
    const { steps, promptsPerStep, groupSize } = this.config.train;
    const seeds = Rng.fromState(this.rng.getState());
    seeds.seed(); // this step's own
    const planned: PlannedGeneration[] = [];
    for (let ahead = 1; ahead <= lookahead && step + ahead < steps; ahead++) {
      const seed = seeds.seed();
      const rows = this.order.take(this.cursor + ahead * promptsPerStep, promptsPerStep).map((i) => this.parts.dataset.get(i));
      const requests = rows.map(this.render).map((text) => ({ text, ids: this.policy.encodePrompt(text) }));
      planned.push({ step: step + ahead, requests, groupSize, options: { ...sampling, seed } });
    }
    return planned;
  }

  /** Whether this run corrects for the engine's numbers (`generation.correction.enabled`; `auto`: every engine but the trainer's own sampler). */
  private correcting(): boolean {
    const { enabled } = this.config.generation.correction;
    return enabled === 'on' || (enabled === 'auto' && this.parts.engine.trainerSampler !== true);
  }

  /**
   * The engine–trainer mismatch figures of a step and, when `correct`, the importance weights of
   * its tokens (`correction.ts`). Without correction, log-probs that cannot be compared (an engine
   * that reports only processed log-probs while sampling was not plain) give no figures.
   */
  private offPolicy(
    groups: readonly ScoredGroup[],
    prepared: PreparedBatch,
    sampling: Pick<SamplingOptions, 'temperature' | 'topK' | 'topP'>,
    correct: boolean,
    metrics: Record<string, number>,
  ): number[][] | undefined {
    const completions = groups.flatMap((gr) => gr.completions);
    if (!correct && !(plainSampling(sampling) || completions.every((c) => c.rawLogprobs))) return undefined;
    const input = {
      trainer: perSample(prepared, 'oldLogprobs') ?? [],
      engine: completions.map((c) => engineLogprobs(c, sampling, this.parts.engine.name)),
      excluded: groups.flatMap((gr) => gr.completions.map((_, i) => gr.masked?.[i] === true)),
    };
    Object.assign(metrics, mismatchMetrics(input));
    if (!correct) return undefined;
    const { mode, clipMin, clipMax } = this.config.generation.correction;
    const { weights, metrics: figures } = correctionWeights(mode, input, { clipMin, clipMax });
    Object.assign(metrics, figures);
    return weights;
  }

  private samples(groups: readonly ScoredGroup[], advantages: readonly number[][]): SampleLog[] {
    const every = this.config.train.logSamplesEvery;
    if (every <= 0 || this.stepIndex % every !== 0 || groups.length === 0) return [];
    const g = groups[0]!;
    const reference = typeof g.row.answer === 'string' ? { reference: g.row.answer } : {};
    return g.completions.slice(0, 4).map((c, i) => ({
      prompt: g.prompt,
      completion: c.text,
      reward: g.rewards[i] ?? 0,
      rewards: Object.fromEntries(Object.entries(g.rewardsByFunction).map(([k, v]) => [k, v[i] ?? null])),
      advantage: advantages[i]?.[0] ?? 0,
      ...reference,
    }));
  }

  /**
   * Evaluates the policy on the evaluation set: greedy completions scored by every reward and,
   * when an accuracy reward exists (`eval.accuracyReward`, else one named like `*accuracy*`),
   * greedy accuracy plus pass@k and maj@k. `k` defaults to `eval.k`; `requireAccuracy` makes a
   * missing accuracy reward an error.
   */
  async evaluate(
    options: { limit?: number; k?: number; requireAccuracy?: boolean; onProgress?: (done: number, total: number) => void } = {},
  ): Promise<Evaluation> {
    const dataset = this.parts.evalDataset;
    if (!dataset) throw new GrpoError('no evaluation dataset is configured (data.eval, or a plugin that binds EvalDataset)');
    const n = Math.min(dataset.size, options.limit ?? this.config.data.evalSize ?? dataset.size);
    const { generation: g, eval: e } = this.config;
    const accuracy = options.requireAccuracy ? accuracyReward(this.rewards, e.accuracyReward) : findAccuracyReward(this.rewards, e.accuracyReward);
    const environment = this.parts.environment;
    return evaluate({
      policy: this.policy,
      // With an environment, evaluation samples whole trajectories too, from the policy itself.
      ...(environment
        ? {
            generate: (rows, prompts, groupSize, sampling) =>
              multiTurnGenerate(
                prompts.map((text, i) => ({ text, ids: this.policy.encodePrompt(text), row: rows[i]! })),
                groupSize,
                sampling,
                {
                  engine: policyEngine(this.policy),
                  environment,
                  tokenizer: this.policy.tokenizer,
                  options: this.environmentOptions(),
                  maxSeqLen: this.policy.maxSeqLen,
                },
              ),
          }
        : {}),
      rows: Array.from({ length: n }, (_, i) => dataset.get(i)),
      render: this.render,
      rewards: this.rewards,
      rewardOptions: this.config.rewards,
      accuracy,
      extractor: this.parts.extractor,
      k: options.k ?? e.k,
      temperature: e.temperature,
      maxNewTokens: g.maxNewTokens,
      stop: g.stop,
      seed: this.config.seed + 7919,
      onProgress: options.onProgress,
    });
  }

  /**
   * Runs steps until `train.steps`, logging to sinks and calling hooks. Saves a checkpoint every
   * `train.checkpointEvery` steps, at the end, and when `signal` aborts (Ctrl-C) after the step in flight.
   */
  async train(
    options: { signal?: AbortSignal; checkpointer?: Checkpointer; sinks?: readonly MetricsSink[] } = {},
  ): Promise<{ stopped: boolean; checkpoint?: string }> {
    const { train } = this.config;
    const hooks = this.parts.hooks ?? [];
    const sinks = [...(this.parts.sinks ?? []), ...(options.sinks ?? [])];
    let checkpoint: string | undefined;
    const save = async () => {
      if (!options.checkpointer) return;
      checkpoint = await options.checkpointer.save(this);
      for (const h of hooks) await h.onCheckpoint?.({ step: this.stepIndex, dir: checkpoint });
    };
    await checkEngineHealth(this.parts.engine);
    for (const h of hooks) await h.onTrainStart?.({ step: this.stepIndex, totalSteps: train.steps });
    while (this.stepIndex < train.steps && !options.signal?.aborted) {
      const summary = await this.trainStep();
      if (train.evalEvery > 0 && this.stepIndex % train.evalEvery === 0 && this.parts.evalDataset) {
        const { metrics } = await this.evaluate({ k: 0 });
        Object.assign(summary.metrics, metrics);
        for (const h of hooks) await h.onEval?.({ step: summary.step, metrics });
      }
      for (const s of sinks) {
        await s.log(summary.step, summary.metrics);
        if (summary.samples.length) await s.logSamples?.(summary.step, summary.samples);
      }
      for (const h of hooks) await h.onStepEnd?.(summary);
      if (train.checkpointEvery > 0 && this.stepIndex % train.checkpointEvery === 0) await save();
    }
    const stopped = this.stepIndex < train.steps;
    if (options.checkpointer && (stopped || train.checkpointEvery === 0 || this.stepIndex % train.checkpointEvery !== 0)) await save();
    for (const h of hooks) await h.onTrainEnd?.({ step: this.stepIndex });
    for (const s of sinks) await s.close?.();
    return { stopped, checkpoint };
  }

  dispose(): void {
    this.reference?.dispose();
    this.optimizer.dispose();
    for (const p of this.parts.participants ?? []) p.dispose?.();
    // What a failing close would leave behind (a native model, sockets) goes with the process.
    this.parts.engine.close?.().catch(() => undefined);
  }
}
