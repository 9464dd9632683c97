import * as tf from '@tensorflow/tfjs';
import type { Container } from 'inversify';
import type { AdvantageEstimator, LossAggregation, Objective } from '../contracts/algorithm.js';
import { AlgorithmDefaults, AdvantageEstimator as AdvantageEstimatorToken, LossAggregation as LossAggregationToken, Objective as ObjectiveToken } from '../contracts/algorithm.js';
import { EvalDataset, PromptDataset } from '../contracts/data.js';
import { TrainerHook } from '../contracts/events.js';
import { MetricsSink } from '../contracts/metrics.js';
import { Policy, type FrozenPolicy } from '../contracts/policy.js';
import { AnswerExtractor, RewardFunction } from '../contracts/reward.js';
import { ValueModel } from '../contracts/value-model.js';
import { GrpoConfig, type ResolvedConfig } from '../config/schema.js';
import { GrpoError } from '../errors.js';
import { selectNamed } from '../plugin/container.js';
import type { Checkpointable, Checkpointer, OptimizerState } from '../contracts/checkpoint.js';
import type { DatasetRow, Rollout, SampleLog, ScoredGroup, StepSummary, TokenBatch, TrainerState } from '../records.js';
import { Rng } from '../util/rng.js';
import { AdamW, clipByGlobalNorm } from './adamw.js';
import { chunks, logprobsOf, padded, tokenBatch, type TrainSequence } from './batch.js';
import { DataOrder } from './data-order.js';
import { scoreRollouts } from './rewards.js';
import { learningRateAt } from './schedule.js';
import { applyOverlongShaping, hasRewardVariance } from './shaping.js';
import { accuracyReward, evaluateAccuracy, type AccuracyReport } from './evaluate.js';

/** Everything the trainer orchestrates; `fromContainer` resolves it from the DI container. */
export interface TrainerParts {
  config: ResolvedConfig;
  policy: Policy;
  rewards: RewardFunction[];
  estimator: AdvantageEstimator;
  objective: Objective;
  aggregation: LossAggregation;
  dataset: PromptDataset;
  evalDataset?: PromptDataset;
  /** PPO's critic; GRPO runs without one. */
  valueModel?: ValueModel;
  /** Final-answer extractor for maj@k. */
  extractor?: AnswerExtractor;
  sinks?: MetricsSink[];
  hooks?: TrainerHook[];
}

/**
 * The advantage estimator and objective a run uses: the config's names, else the last bound
 * `AlgorithmDefaults` that names one (so a PPO plugin loaded after GRPO switches both).
 */
export function algorithmNames(resolver: { getAll<T>(token: symbol): T[] }, config: ResolvedConfig): { estimator: string; objective: string } {
  const defaults = resolver.getAll<AlgorithmDefaults>(AlgorithmDefaults);
  const pick = (key: 'estimator' | 'objective') => [...defaults].reverse().find((d) => d[key])?.[key];
  const estimator = config.algorithm.advantage.estimator ?? pick('estimator');
  const objective = config.algorithm.objective.name ?? pick('objective');
  if (!estimator) throw new GrpoError('No advantage estimator is chosen: name one in algorithm.advantage.estimator or load an algorithm plugin such as @grpo/plugin-grpo');
  if (!objective) throw new GrpoError('No objective is chosen: name one in algorithm.objective.name or load an algorithm plugin such as @grpo/plugin-grpo');
  return { estimator, objective };
}

/** Fills `{field}` placeholders of the prompt template from a dataset row; `{prompt}` is the prompt field. */
export function renderPrompt(template: string, row: DatasetRow, promptField: string): string {
  const prompt = row[promptField];
  if (typeof prompt !== 'string') throw new GrpoError(`dataset row has no string field '${promptField}' (data.promptField)`);
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => {
    if (key === 'prompt') return prompt;
    const value = row[key];
    return value === undefined ? whole : String(value);
  });
}

/** One training sequence per completion, in group order; truncated completions get mask 0 when asked (TRL `mask_truncated_completions`). */
export function toTrainSequences(groups: readonly ScoredGroup[], options: { maskTruncated: boolean }): TrainSequence[] {
  return groups.flatMap((g) =>
    g.completions.map((c) => {
      const masked = options.maskTruncated && c.finishReason === 'length';
      return { promptIds: g.promptIds, completionIds: c.tokenIds, advantages: [], mask: c.tokenIds.map(() => (masked ? 0 : 1)) };
    }),
  );
}

/**
 * Sequences per forward/backward pass when the config sets none. Gradient accumulation makes the
 * result identical to one big pass, and it bounds activation memory (the wasm heap of tfjs is
 * limited; one pass over 128 sequences of ~100 tokens with a 4-layer model exhausted it).
 */
export const DEFAULT_MICRO_BATCH = 32;

const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/**
 * The GRPO loop: sample groups from π_old, score, estimate advantages, then μ update passes over
 * mini-batches (with gradient accumulation over micro-batches), clipping and an LR schedule.
 * It only orchestrates; every piece of math is an injected part.
 */
export class GrpoTrainer implements Checkpointable {
  readonly config: ResolvedConfig;
  readonly policy: Policy;
  reference: FrozenPolicy | undefined;
  readonly valueModel: ValueModel | undefined;
  readonly optimizer: AdamW;
  /** The critic's own optimizer, when there is a critic. */
  readonly criticOptimizer: AdamW | undefined;
  private readonly parts: TrainerParts;
  private readonly order: DataOrder;
  private rng: Rng;
  private cursor = 0;
  private stepIndex = 0;

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
    // β = 0 loads no reference model at all.
    this.reference = this.config.algorithm.kl.beta > 0 ? this.policy.snapshot() : undefined;
    const adam = { beta1: t.adamBeta1, beta2: t.adamBeta2, eps: t.adamEps, weightDecay: t.weightDecay };
    this.optimizer = new AdamW(adam);
    this.valueModel = parts.valueModel;
    this.criticOptimizer = parts.valueModel ? new AdamW(adam) : undefined;
    if (parts.estimator.needsValues && !parts.valueModel)
      throw new GrpoError(`advantage estimator '${parts.estimator.name}' needs a value model (critic): add a plugin that binds ValueModel, e.g. @grpo/plugin-ppo`);
    this.order = new DataOrder(parts.dataset.size, this.config.seed);
    this.rng = new Rng(this.config.seed);
  }

  /** Resolves every part from a container built by `assembleContainer` (the policy must be bound). */
  static fromContainer(container: Container): GrpoTrainer {
    const config = container.get<ResolvedConfig>(GrpoConfig);
    const a = config.algorithm;
    const { estimator: estimatorName, objective: objectiveName } = algorithmNames(container, config);
    return new GrpoTrainer({
      config,
      policy: container.get<Policy>(Policy),
      rewards: container.getAll<RewardFunction>(RewardFunction),
      estimator: selectNamed(container, AdvantageEstimatorToken, estimatorName, 'advantage estimator'),
      objective: selectNamed(container, ObjectiveToken, objectiveName, 'objective'),
      aggregation: selectNamed(container, LossAggregationToken, a.lossAggregation, 'loss aggregation'),
      dataset: container.get<PromptDataset>(PromptDataset),
      evalDataset: container.isBound(EvalDataset) ? container.get<PromptDataset>(EvalDataset) : undefined,
      valueModel: container.isBound(ValueModel) ? container.get<ValueModel>(ValueModel) : undefined,
      extractor: container.isBound(AnswerExtractor) ? container.get<AnswerExtractor>(AnswerExtractor) : undefined,
      sinks: container.getAll<MetricsSink>(MetricsSink),
      hooks: container.getAll<TrainerHook>(TrainerHook),
    });
  }

  get step(): number {
    return this.stepIndex;
  }

  /** Trainer state for a checkpoint (the optimizer and weights are saved alongside). */
  getState(): TrainerState {
    return { step: this.stepIndex, rng: this.rng.getState(), dataCursor: this.cursor };
  }

  getOptimizerState(): OptimizerState {
    const state = this.optimizer.getState(this.policy.trainableVariables());
    if (this.valueModel && this.criticOptimizer) {
      const critic = this.criticOptimizer.getState(this.valueModel.trainableVariables());
      for (const [k, v] of Object.entries(critic.tensors)) state.tensors[`critic/${k}`] = v;
      state.criticStep = critic.step;
    }
    return state;
  }

  setOptimizerState(state: OptimizerState): void {
    const policy: OptimizerState = { step: state.step, tensors: {} };
    const critic: OptimizerState = { step: state.criticStep ?? 0, tensors: {} };
    for (const [k, v] of Object.entries(state.tensors)) {
      if (k.startsWith('critic/')) critic.tensors[k.slice('critic/'.length)] = v;
      else policy.tensors[k] = v;
    }
    if (Object.keys(critic.tensors).length && !this.valueModel) throw new Error('the checkpoint has critic optimizer state, but this run has no value model');
    this.optimizer.setState(policy, this.policy.trainableVariables());
    if (this.valueModel && this.criticOptimizer) this.criticOptimizer.setState(critic, this.valueModel.trainableVariables());
  }

  setState(state: TrainerState): void {
    this.stepIndex = state.step;
    this.rng = Rng.fromState(state.rng);
    this.cursor = state.dataCursor;
  }

  private nextRows(count: number): DatasetRow[] {
    const rows = this.order.take(this.cursor, count).map((i) => this.parts.dataset.get(i));
    this.cursor += count;
    return rows;
  }

  private prompt(row: DatasetRow): string {
    return renderPrompt(this.config.data.promptTemplate, row, this.config.data.promptField);
  }

  /** Samples `groupSize` completions for each row with the current policy (π_old). */
  async rollout(rows: readonly DatasetRow[]): Promise<{ rollouts: Rollout[]; prompts: string[] }> {
    const g = this.config.generation;
    const prompts = rows.map((r) => this.prompt(r));
    const completions = await this.policy.generate(prompts, this.config.train.groupSize, {
      maxNewTokens: g.maxNewTokens,
      temperature: g.temperature,
      topK: g.topK || undefined,
      topP: g.topP < 1 ? g.topP : undefined,
      stop: g.stop,
      seed: this.rng.seed(),
    });
    return { prompts, rollouts: rows.map((row, i) => ({ row, promptIds: this.policy.encodePrompt(prompts[i]!), completions: completions[i]! })) };
  }

  private tokenEnds = (ids: readonly number[]): number[] => {
    const tok = this.policy.tokenizer;
    let total = 0;
    return ids.map((id) => (total += tok.decode([id], { skipSpecial: true }).length));
  };

  private async score(rollouts: Rollout[], prompts: string[]) {
    const r = this.config.rewards;
    return scoreRollouts(rollouts, prompts, this.parts.rewards, r, this.tokenEnds);
  }

  /** One GRPO step. Returns its metrics and sample completions. */
  async trainStep(): Promise<StepSummary> {
    const started = performance.now();
    const step = this.stepIndex;
    for (const h of this.parts.hooks ?? []) await h.onStepStart?.({ step });
    const { train, algorithm } = this.config;

    // 1. Sample and score; DAPO dynamic sampling keeps only groups with a learning signal.
    // Where the step's time goes, logged as timing/* (seconds).
    let mark = started;
    const lap = () => {
      const now = performance.now();
      const seconds = (now - mark) / 1000;
      mark = now;
      return seconds;
    };
    const first = await this.rollout(this.nextRows(train.promptsPerStep));
    const generateSeconds = lap();
    let scored = await this.score(first.rollouts, first.prompts);
    const scoreSeconds = lap();
    const metrics: Record<string, number> = { ...scored.metrics };
    let groups: ScoredGroup[] = scored.groups;
    let genTokens = groups.reduce((a, g) => a + g.completions.reduce((b, c) => b + c.tokenIds.length, 0), 0);
    if (algorithm.dynamicSampling.enabled) {
      let kept = groups.filter(hasRewardVariance);
      let rounds = 0;
      while (kept.length < train.promptsPerStep && rounds < algorithm.dynamicSampling.maxRounds) {
        rounds++;
        const more = await this.rollout(this.nextRows(train.promptsPerStep - kept.length));
        scored = await this.score(more.rollouts, more.prompts);
        genTokens += scored.groups.reduce((a, g) => a + g.completions.reduce((b, c) => b + c.tokenIds.length, 0), 0);
        kept = kept.concat(scored.groups.filter(hasRewardVariance));
      }
      metrics['dynamic_sampling/rounds'] = rounds;
      metrics['dynamic_sampling/kept_groups'] = kept.length;
      groups = kept.slice(0, train.promptsPerStep);
    }
    if (algorithm.overlong.enabled) {
      const shaped = applyOverlongShaping(groups, {
        maxLength: this.config.generation.maxNewTokens,
        buffer: algorithm.overlong.buffer,
        factor: algorithm.overlong.factor,
      });
      groups = shaped.groups;
      metrics['rewards/overlong_penalty/mean'] = shaped.meanPenalty;
    }

    for (const h of this.parts.hooks ?? []) await h.onRollouts?.({ step, prompts: groups.map((g) => this.prompt(g.row)), groups });

    // 2. Sequences, the log-probs and values the estimator and the update need, then advantages.
    const sequences = toTrainSequences(groups, { maskTruncated: algorithm.maskTruncated });
    lap();
    this.prepare(sequences);
    metrics['timing/reference_and_old_logprobs'] = lap();
    const estimator = this.parts.estimator;
    const adv = estimator.estimate({
      groups,
      options: algorithm.advantage,
      values: sequences[0]?.values ? sequences.map((s) => s.values!) : undefined,
      oldLogprobs: sequences[0]?.oldLogprobs ? sequences.map((s) => s.oldLogprobs!) : undefined,
      refLogprobs: sequences[0]?.refLogprobs ? sequences.map((s) => s.refLogprobs!) : undefined,
      klInReward: algorithm.kl.inReward ? { beta: algorithm.kl.beta } : undefined,
    });
    Object.assign(metrics, adv.metrics);
    sequences.forEach((s, i) => {
      const advantages = adv.advantages[i];
      if (!advantages || advantages.length !== s.completionIds.length)
        throw new GrpoError(`advantage estimator '${estimator.name}' returned ${advantages?.length ?? 'no'} advantages for a completion of ${s.completionIds.length} tokens`);
      s.advantages = advantages;
      if (this.valueModel) {
        const returns = adv.returns?.[i];
        if (!returns || returns.length !== s.completionIds.length) throw new GrpoError(`advantage estimator '${estimator.name}' returned no returns for the critic; use an estimator that computes them (e.g. 'gae')`);
        s.returns = returns;
      }
    });
    const lengths = sequences.map((s) => s.completionIds.length);
    const completions = groups.flatMap((g) => g.completions);
    metrics['completions/mean_length'] = mean(lengths);
    metrics['completions/min_length'] = lengths.length ? Math.min(...lengths) : 0;
    metrics['completions/max_length'] = lengths.length ? Math.max(...lengths) : 0;
    metrics['completions/clipped_ratio'] = mean(completions.map((c) => (c.finishReason === 'length' ? 1 : 0)));

    // 3. Update: μ passes over mini-batches, gradient accumulation over micro-batches.
    const update = sequences.length > 0 ? this.update(sequences) : { loss: 0, gradNorm: 0, lr: this.lr(), objective: {} };
    metrics['timing/update'] = lap();
    metrics['timing/generate'] = generateSeconds;
    metrics['timing/score'] = scoreSeconds;
    Object.assign(metrics, update.objective);
    metrics.loss = update.loss;
    metrics.grad_norm = update.gradNorm;
    metrics.learning_rate = update.lr;

    // 4. Reference refresh: DeepSeekMath's periodic reset or TR-DPO mixing.
    const kl = algorithm.kl;
    if (this.reference) {
      if (kl.trDpoAlpha !== undefined && (step + 1) % kl.trDpoTau === 0) this.reference.syncFrom(this.policy, kl.trDpoAlpha);
      else if (kl.refResetEvery > 0 && (step + 1) % kl.refResetEvery === 0) this.reference.syncFrom(this.policy);
    }

    const seconds = (performance.now() - started) / 1000;
    metrics.step_time = seconds;
    metrics.tokens_per_sec = genTokens / seconds;
    this.stepIndex++;
    const samples = this.samples(groups, adv.advantages);
    const summary: StepSummary = { step, metrics, samples };
    return summary;
  }

  private lr(): number {
    const t = this.config.train;
    return learningRateAt(this.optimizer.iterations, {
      learningRate: t.learningRate,
      schedule: t.lrSchedule,
      warmupSteps: t.warmupSteps,
      // One optimizer step per mini-batch per iteration.
      totalSteps: t.steps * t.numIterations * Math.ceil((t.promptsPerStep * t.groupSize) / (t.miniBatchSize ?? t.promptsPerStep * t.groupSize)),
      minLrRatio: t.minLrRatio,
    });
  }

  private microBatchSize(total: number): number {
    const t = this.config.train;
    const mini = Math.min(t.miniBatchSize ?? total, total);
    return Math.min(t.microBatchSize ?? DEFAULT_MICRO_BATCH, mini);
  }

  /** Computes, without gradients, what the estimator and the update need: π_old, π_ref and critic values. */
  private prepare(sequences: TrainSequence[]): void {
    const t = this.config.train;
    const micro = this.microBatchSize(sequences.length);
    const mini = Math.min(t.miniBatchSize ?? sequences.length, sequences.length);
    const needOld = t.numIterations > 1 || mini < sequences.length || this.parts.estimator.needsLogprobs || this.config.algorithm.kl.inReward;
    if (needOld) logprobsOf(this.policy, sequences, micro).forEach((lp, i) => (sequences[i]!.oldLogprobs = lp));
    if (this.reference) logprobsOf(this.reference, sequences, micro).forEach((lp, i) => (sequences[i]!.refLogprobs = lp));
    if (this.valueModel) {
      const critic = this.valueModel;
      const model = { tokenLogProbs: (batch: TokenBatch) => ({ logprobs: critic.values(batch) }) };
      logprobsOf(model, sequences, micro).forEach((v, i) => (sequences[i]!.values = v));
    }
  }

  private update(sequences: TrainSequence[]): { loss: number; gradNorm: number; lr: number; objective: Record<string, number> } {
    const t = this.config.train;
    const mini = Math.min(t.miniBatchSize ?? sequences.length, sequences.length);
    const micro = this.microBatchSize(sequences.length);
    const klInLoss = !this.config.algorithm.kl.inReward;
    const policyVars = this.policy.trainableVariables();
    const criticVars = this.valueModel?.trainableVariables() ?? [];
    const criticNames = new Set(criticVars.map((v) => v.name));
    const sums: Record<string, number> = {};
    let weight = 0;
    let loss = 0;
    let gradNorm = 0;
    let criticNorm = 0;
    let updates = 0;
    let lr = this.lr();
    for (let iteration = 0; iteration < t.numIterations; iteration++) {
      for (const batch of chunks(sequences, mini)) {
        const context = {
          totalTokens: Math.max(1, batch.reduce((a, s) => a + s.mask.reduce((b, m) => b + m, 0), 0)),
          totalSequences: batch.length,
          maxLength: this.config.generation.maxNewTokens,
        };
        let accumulated: Record<string, tf.Tensor> | undefined;
        let batchLoss = 0;
        for (const part of chunks(batch, micro)) {
          const kept: [string, tf.Scalar][] = [];
          const { value, grads } = tf.variableGrads(() => {
            const tokens = tokenBatch(part);
            const { logprobs, entropy } = this.policy.tokenLogProbs(tokens, { entropy: true });
            const L = logprobs.shape[1];
            const pad = (rows: (s: TrainSequence) => number[] | undefined) => (part[0] && rows(part[0]) ? padded(part.map((s) => rows(s)!), L) : undefined);
            // μ = 1 with one mini-batch: π_old = π_θ, as a constant (a detached copy of the values).
            const old = pad((s) => s.oldLogprobs) ?? tf.tensor2d(logprobs.dataSync(), logprobs.shape);
            const result = this.parts.objective.loss(
              {
                logprobs,
                oldLogprobs: old,
                refLogprobs: klInLoss ? pad((s) => s.refLogprobs) : undefined,
                advantages: pad((s) => s.advantages)!,
                mask: pad((s) => s.mask)!,
                entropy,
                values: this.valueModel?.values(tokens),
                oldValues: pad((s) => s.values),
                returns: pad((s) => s.returns),
              },
              this.parts.aggregation,
              context,
            );
            for (const [name, m] of Object.entries(result.metrics)) kept.push([name, tf.keep(m)]);
            return result.loss;
          }, [...policyVars, ...criticVars]);
          batchLoss += value.dataSync()[0] ?? 0;
          value.dispose();
          const tokens = part.reduce((a, s) => a + s.mask.reduce((b, m) => b + m, 0), 0);
          for (const [name, m] of kept) {
            sums[name] = (sums[name] ?? 0) + (m.dataSync()[0] ?? 0) * tokens;
            m.dispose();
          }
          weight += tokens;
          if (!accumulated) accumulated = grads as Record<string, tf.Tensor>;
          else {
            for (const [k, g] of Object.entries(grads)) {
              const prev = accumulated[k];
              accumulated[k] = prev ? tf.tidy(() => prev.add(g)) : tf.keep(g.clone());
              prev?.dispose();
              g.dispose();
            }
          }
        }
        if (!Number.isFinite(batchLoss)) throw new GrpoError(`the loss became ${batchLoss} at step ${this.stepIndex}; lower train.learningRate or check the rewards`);
        // Policy and critic are clipped and stepped by their own optimizers.
        const policyGrads: Record<string, tf.Tensor> = {};
        const criticGrads: Record<string, tf.Tensor> = {};
        for (const [k, g] of Object.entries(accumulated ?? {})) (criticNames.has(k) ? criticGrads : policyGrads)[k] = g;
        lr = this.lr();
        const clipped = clipByGlobalNorm(policyGrads, t.maxGradNorm);
        this.optimizer.apply(policyVars, clipped.grads, lr);
        tf.dispose(Object.values(clipped.grads));
        if (this.valueModel && this.criticOptimizer && Object.keys(criticGrads).length) {
          const c = clipByGlobalNorm(criticGrads, t.maxGradNorm);
          this.criticOptimizer.apply(criticVars, c.grads, this.valueModel.learningRate ?? lr);
          tf.dispose(Object.values(c.grads));
          criticNorm += c.norm;
        }
        loss += batchLoss;
        gradNorm += clipped.norm;
        updates++;
      }
    }
    const objective = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, weight > 0 ? v / weight : 0]));
    if (this.valueModel) objective['critic/grad_norm'] = criticNorm / Math.max(1, updates);
    return { loss: loss / Math.max(1, updates), gradNorm: gradNorm / Math.max(1, updates), lr, objective };
  }

  private samples(groups: readonly ScoredGroup[], advantages: readonly number[][]): SampleLog[] {
    const every = this.config.train.logSamplesEvery;
    if (every <= 0 || this.stepIndex % every !== 0 || groups.length === 0) return [];
    const g = groups[0]!;
    return g.completions.slice(0, 4).map((c, i) => ({
      prompt: this.prompt(g.row),
      completion: c.text,
      reward: g.rewards[i] ?? 0,
      rewards: Object.fromEntries(Object.entries(g.rewardsByFunction).map(([k, v]) => [k, v[i] ?? null])),
      advantage: advantages[i]?.[0] ?? 0,
    }));
  }

  /**
   * Greedy completions on held-out prompts, scored by the reward functions:
   * `eval/reward` and `eval/rewards/<fn>/mean` (for a 0/1 accuracy reward, the accuracy).
   */
  async evaluate(dataset = this.parts.evalDataset, limit = this.config.data.evalSize): Promise<Record<string, number>> {
    if (!dataset) throw new GrpoError('no evaluation dataset is configured (data.eval)');
    const n = Math.min(dataset.size, limit ?? dataset.size);
    const rows = Array.from({ length: n }, (_, i) => dataset.get(i));
    const metrics: Record<string, number> = {};
    const batchSize = 64;
    const scores: Record<string, number[]> = {};
    for (const part of chunks(rows, batchSize)) {
      const prompts = part.map((r) => this.prompt(r));
      const completions = await this.policy.generate(prompts, 1, {
        maxNewTokens: this.config.generation.maxNewTokens,
        temperature: 0,
        stop: this.config.generation.stop,
        seed: 0,
      });
      const rollouts = part.map((row, i) => ({ row, promptIds: [], completions: completions[i]! }));
      const scored = await scoreRollouts(rollouts, prompts, this.parts.rewards, this.config.rewards, this.tokenEnds);
      for (const g of scored.groups) {
        (scores.reward ??= []).push(g.rewards[0] ?? 0);
        for (const [name, values] of Object.entries(g.rewardsByFunction)) if (values[0] !== null && values[0] !== undefined) (scores[name] ??= []).push(values[0]);
      }
    }
    metrics['eval/reward'] = mean(scores.reward ?? []);
    for (const [name, values] of Object.entries(scores)) if (name !== 'reward') metrics[`eval/rewards/${name}/mean`] = mean(values);
    return metrics;
  }

  /** The run's hooks (the checkpointer saves the state of those that keep some). */
  get hooks(): readonly TrainerHook[] {
    return this.parts.hooks ?? [];
  }

  /** True when an evaluation dataset is configured. */
  get hasEvalDataset(): boolean {
    return this.parts.evalDataset !== undefined;
  }

  /**
   * Greedy accuracy, pass@k and maj@k on the evaluation set, judged by the accuracy reward
   * (`eval.accuracyReward`, else the first reward named like `*accuracy*`).
   */
  async evaluateAccuracy(options: { limit?: number; k?: number } = {}): Promise<AccuracyReport> {
    const dataset = this.parts.evalDataset;
    if (!dataset) throw new GrpoError('no evaluation dataset is configured (data.eval, or a plugin that binds EvalDataset)');
    const n = Math.min(dataset.size, options.limit ?? this.config.data.evalSize ?? dataset.size);
    const g = this.config.generation;
    return evaluateAccuracy({
      policy: this.policy,
      rows: Array.from({ length: n }, (_, i) => dataset.get(i)),
      prompt: (row) => this.prompt(row),
      accuracy: accuracyReward(this.parts.rewards, this.config.eval.accuracyReward),
      extractor: this.parts.extractor,
      k: options.k ?? this.config.eval.k,
      temperature: this.config.eval.temperature,
      maxNewTokens: g.maxNewTokens,
      stop: g.stop,
      seed: this.config.seed + 7919,
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
    for (const h of hooks) await h.onTrainStart?.({ step: this.stepIndex, totalSteps: train.steps });
    while (this.stepIndex < train.steps && !options.signal?.aborted) {
      const summary = await this.trainStep();
      if (train.evalEvery > 0 && this.stepIndex % train.evalEvery === 0 && this.parts.evalDataset) {
        const evalMetrics = await this.evaluate();
        Object.assign(summary.metrics, evalMetrics);
        for (const h of hooks) await h.onEval?.({ step: summary.step, metrics: evalMetrics });
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
    this.criticOptimizer?.dispose();
  }
}
