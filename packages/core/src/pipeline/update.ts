/**
 * The update stage: μ passes over mini-batches, each an optimizer step whose gradient is
 * accumulated over the prepared micro-batches. The loss of a micro-batch is the objective's plus
 * each participant's term; the loss aggregation is normalised over the whole mini-batch
 * (`AggregationContext`), so micro-batching changes nothing but memory.
 */
import * as tf from '@tensorflow/tfjs';
import type { AggregationContext, Algorithm, LossAggregation } from '../contracts/algorithm.js';
import type { Policy } from '../contracts/policy.js';
import type { UpdateParticipant } from '../contracts/update.js';
import { GrpoError } from '../errors.js';
import type { AdvantageBatch } from '../records.js';
import { clipByGlobalNorm, type AdamW } from '../trainer/adamw.js';
import { padded } from './batch.js';
import type { MicroBatch, PreparedBatch } from './prepare.js';

export interface UpdateContext {
  policy: Policy;
  algorithm: Pick<Algorithm, 'objective' | 'aggregation' | 'kl'>;
  participants: readonly UpdateParticipant[];
  /** The participant whose `values` were prepared (its `oldValues`). */
  valuer?: UpdateParticipant;
  optimizer: AdamW;
  /** The scheduled learning rate for the optimizer's next step. */
  learningRate: () => number;
  numIterations: number;
  miniBatchSize: number;
  maxGradNorm: number;
  /** `generation.maxNewTokens`, Dr. GRPO's constant normaliser. */
  maxLength: number;
  /** Names the step in errors. */
  step: number;
  /**
   * A non-finite loss, gradient norm, π_θ / π_old / π_ref log-prob or KL: `stop` (default) throws
   * naming the step, `skip` drops that optimizer step and the rest of this update. Either way no
   * non-finite gradient is ever applied.
   */
  onNonFinite?: 'stop' | 'skip';
  /**
   * Per-token weights `[sample][t]` that multiply the objective's per-token loss before it is
   * aggregated (the off-policy correction's importance ratios, `correction.ts`); the normaliser
   * and the participants' terms are unchanged.
   */
  tokenWeights?: readonly (readonly number[])[];
}

export interface UpdateResult {
  /** Mean over optimizer steps of the mini-batch loss. */
  loss: number;
  /** Mean over optimizer steps of the policy's gradient norm before clipping. */
  gradNorm: number;
  lr: number;
  /** The objective's and participants' metrics, token-weighted over micro-batches; participants' step metrics averaged over steps. */
  metrics: Record<string, number>;
  /** With `onNonFinite: 'skip'`: what was not finite; the optimizer steps before it were applied, none after. */
  skipped?: string;
}

const validTokens = (mask: readonly number[]) => mask.reduce((a, m) => a + m, 0);

/** How many entries of `x` where `mask` > 0 are NaN or ±Infinity (a scalar). */
const countNonFinite = (x: tf.Tensor, mask: tf.Tensor): tf.Scalar =>
  tf.sum(tf.mul(tf.cast(tf.logicalNot(tf.isFinite(x)), 'float32'), tf.cast(tf.greater(mask, 0), 'float32')));

/** Thrown inside the update to leave it; becomes the error (stop) or `skipped` (skip). */
class NonFinite extends Error {}

export function update(prepared: PreparedBatch, estimated: AdvantageBatch, context: UpdateContext): UpdateResult {
  const { samples, microBatches } = prepared;
  if (samples.length === 0) return { loss: 0, gradNorm: 0, lr: context.learningRate(), metrics: {} };
  const { objective, aggregation, kl } = context.algorithm;
  const policyVars = context.policy.trainableVariables();
  const owned = context.participants.map((p) => ({ participant: p, vars: p.trainableVariables() }));
  const ownerOf = new Map<string, number>();
  owned.forEach((o, k) => o.vars.forEach((v) => ownerOf.set(v.name, k)));
  const allVars = [...policyVars, ...owned.flatMap((o) => o.vars)];
  const mini = Math.min(context.miniBatchSize, samples.length);

  const sums: Record<string, number> = {};
  const stepSums: Record<string, number> = {};
  let weight = 0;
  let loss = 0;
  let gradNorm = 0;
  let updates = 0;
  let lr = context.learningRate();

  /** One micro-batch's loss, inside the gradient computation; keeps its metrics in `kept` and π_θ's non-finite log-prob count in `checks`. */
  const microLoss = (m: MicroBatch, aggregationContext: AggregationContext, kept: [string, tf.Scalar][], checks: tf.Scalar[]): tf.Scalar => {
    const rows = samples.slice(m.start, m.end);
    const { logprobs, entropy } = context.policy.tokenLogProbs(m.tokens, { entropy: true });
    const L = logprobs.shape[1];
    const mask = padded(
      rows.map((s) => s.mask),
      L,
    );
    checks.push(tf.keep(countNonFinite(logprobs, mask)));
    // μ = 1 with one mini-batch: π_old = π_θ, as a constant (a detached copy of the values).
    const oldLogprobs = m.oldLogprobs ?? tf.tensor2d(logprobs.dataSync(), logprobs.shape);
    const weights = context.tokenWeights ? padded(context.tokenWeights.slice(m.start, m.end), L) : undefined;
    const objectiveAggregation: LossAggregation = weights
      ? { name: aggregation.name, aggregate: (perToken, mask, c) => aggregation.aggregate(tf.mul(perToken, weights), mask, c) }
      : aggregation;
    const result = objective.loss(
      {
        logprobs,
        oldLogprobs,
        refLogprobs: kl.placement === 'loss' ? m.refLogprobs : undefined,
        advantages: padded(estimated.advantages.slice(m.start, m.end), L),
        mask,
        entropy,
      },
      objectiveAggregation,
      aggregationContext,
    );
    let total = result.loss;
    const metrics = [result.metrics];
    for (const p of context.participants) {
      const term = p.loss(
        {
          tokens: m.tokens,
          mask,
          oldValues: p === context.valuer ? m.values : undefined,
          returns: estimated.returns ? padded(estimated.returns.slice(m.start, m.end), L) : undefined,
        },
        aggregation,
        aggregationContext,
      );
      total = tf.add(total, term.loss);
      metrics.push(term.metrics);
    }
    for (const group of metrics) for (const [name, value] of Object.entries(group)) kept.push([name, tf.keep(value)]);
    return total;
  };

  const where = (iteration: number, from: number) =>
    `step ${context.step} (iteration ${iteration + 1} of ${context.numIterations}, mini-batch ${Math.floor(from / mini) + 1} of ${Math.ceil(samples.length / mini)})`;
  /** π_old and π_ref log-probs of a micro-batch, checked once. */
  const checkInputs = (m: MicroBatch) => {
    for (const [name, t] of [
      ['π_old', m.oldLogprobs],
      ['π_ref', m.refLogprobs],
    ] as const) {
      if (!t) continue;
      const rows = samples.slice(m.start, m.end).map((s) => s.mask);
      const bad = tf.tidy(() => countNonFinite(t, padded(rows, t.shape[1])).dataSync()[0] ?? 0);
      if (bad > 0) throw new NonFinite(`${bad} non-finite ${name} log-prob${bad === 1 ? '' : 's'} at step ${context.step}`);
    }
  };
  let skipped: string | undefined;
  /** Gradients not yet applied nor disposed, and the metric sums before the step in flight: what a non-finite value must clean up. */
  let pending: Record<string, tf.Tensor> | undefined;
  let metricsBefore: { sums: Record<string, number>; weight: number } | undefined;

  try {
    for (const m of microBatches) checkInputs(m);
    for (let iteration = 0; iteration < context.numIterations; iteration++) {
      for (let from = 0; from < samples.length; from += mini) {
        try {
          step(iteration, from);
        } catch (error) {
          if (error instanceof NonFinite) throw new NonFinite(`${error.message} at ${where(iteration, from)}`);
          throw error;
        }
      }
    }
  } catch (error) {
    tf.dispose(Object.values(pending ?? {}));
    if (!(error instanceof NonFinite)) throw error;
    if (context.onNonFinite !== 'skip')
      throw new GrpoError(
        `${error.message}; this optimizer step was not applied and training stopped. Lower train.learningRate, check the rewards and the ` +
          `checkpoint the policy started from, or set train.onNonFinite: 'skip' to skip such steps`,
      );
    skipped = error.message;
    if (metricsBefore) {
      for (const key of Object.keys(sums)) delete sums[key];
      Object.assign(sums, metricsBefore.sums);
      weight = metricsBefore.weight;
    }
  }

  /** One optimizer step: the gradient accumulated over the micro-batches of samples [from, from + mini). */
  function step(iteration: number, from: number): void {
    const to = Math.min(from + mini, samples.length);
    const aggregationContext: AggregationContext = {
      totalTokens: Math.max(
        1,
        samples.slice(from, to).reduce((a, s) => a + validTokens(s.mask), 0),
      ),
      totalSequences: to - from,
      maxLength: context.maxLength,
    };
    let accumulated: Record<string, tf.Tensor> | undefined;
    let batchLoss = 0;
    // Metrics count only once the step is applied: a skipped step puts them back as they were.
    metricsBefore = { sums: { ...sums }, weight };
    for (const m of microBatches.filter((mb) => mb.start >= from && mb.end <= to)) {
      const kept: [string, tf.Scalar][] = [];
      const checks: tf.Scalar[] = [];
      const { value, grads } = recordedPass(() => tf.variableGrads(() => microLoss(m, aggregationContext, kept, checks), allVars), m.end - m.start);
      batchLoss += value.dataSync()[0] ?? 0;
      value.dispose();
      if (!accumulated) accumulated = grads as Record<string, tf.Tensor>;
      else {
        for (const [k, g] of Object.entries(grads)) {
          const prev = accumulated[k];
          accumulated[k] = prev ? tf.tidy(() => prev.add(g)) : tf.keep(g.clone());
          prev?.dispose();
          g.dispose();
        }
      }
      pending = accumulated;
      const badLogprobs = checks.reduce((a, c) => a + (c.dataSync()[0] ?? 0), 0);
      tf.dispose(checks);
      const tokens = samples.slice(m.start, m.end).reduce((a, s) => a + validTokens(s.mask), 0);
      let badKl: number | undefined;
      for (const [name, metric] of kept) {
        const v = metric.dataSync()[0] ?? 0;
        if (name === 'kl' && !Number.isFinite(v)) badKl = v;
        sums[name] = (sums[name] ?? 0) + v * tokens;
        metric.dispose();
      }
      weight += tokens;
      if (badLogprobs > 0) throw new NonFinite(`${badLogprobs} non-finite π_θ log-prob${badLogprobs === 1 ? '' : 's'}`);
      if (badKl !== undefined) throw new NonFinite(`a non-finite KL (${badKl})`);
    }
    if (!Number.isFinite(batchLoss)) throw new NonFinite(`the loss became ${batchLoss}`);
    // The policy and each participant step their own optimizers with their own gradients.
    const policyGrads: Record<string, tf.Tensor> = {};
    const participantGrads = owned.map(() => ({}) as Record<string, tf.Tensor>);
    for (const [k, g] of Object.entries(accumulated ?? {})) {
      const owner = ownerOf.get(k);
      (owner === undefined ? policyGrads : participantGrads[owner]!)[k] = g;
    }
    // Clipping, then the checks, then the optimizers: nothing is applied unless every gradient is finite.
    const clipped = clipByGlobalNorm(policyGrads, context.maxGradNorm);
    pending = { ...clipped.grads, ...Object.assign({}, ...participantGrads) };
    if (!Number.isFinite(clipped.norm)) throw new NonFinite(`a non-finite gradient norm (${clipped.norm})`);
    owned.forEach((o, k) => {
      if (!Object.keys(participantGrads[k]!).length) return;
      const norm = clipByGlobalNorm(participantGrads[k]!, 0).norm;
      if (!Number.isFinite(norm)) throw new NonFinite(`a non-finite gradient norm (${norm}) of '${o.participant.name}'`);
    });
    lr = context.learningRate();
    context.optimizer.apply(policyVars, clipped.grads, lr);
    tf.dispose(Object.values(clipped.grads));
    pending = Object.assign({}, ...participantGrads) as Record<string, tf.Tensor>;
    gradNorm += clipped.norm;
    owned.forEach((o, k) => {
      if (!Object.keys(participantGrads[k]!).length) return;
      for (const [name, value] of Object.entries(o.participant.applyGradients(participantGrads[k]!, lr))) stepSums[name] = (stepSums[name] ?? 0) + value;
    });
    pending = undefined;
    metricsBefore = undefined;
    loss += batchLoss;
    updates++;
  }
  const metrics = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, weight > 0 ? v / weight : 0]));
  for (const [k, v] of Object.entries(stepSums)) metrics[k] = v / Math.max(1, updates);
  return { loss: loss / Math.max(1, updates), gradNorm: gradNorm / Math.max(1, updates), lr, metrics, ...(skipped ? { skipped } : {}) };
}

/**
 * Runs one micro-batch's forward and backward pass. A trap of WebAssembly there (`memory access
 * out of bounds`, an abort) is, on the backends that keep tensors in a WebAssembly heap (`wasm`
 * and @grpo/plugin-backend-native, at most 4 GB), that heap running out: the pass holds every
 * layer's activations for the backward pass, so its memory grows with the sequences per pass.
 * Said as what to change; the module cannot be used again in this process.
 */
export function recordedPass<T>(pass: () => T, sequences: number): T {
  try {
    return pass();
  } catch (error) {
    const trap = (globalThis as { WebAssembly?: { RuntimeError?: abstract new () => Error } }).WebAssembly?.RuntimeError;
    if (!trap || !(error instanceof trap)) throw error;
    throw new GrpoError(
      `the forward/backward pass over a micro-batch of ${sequences} sequences stopped in WebAssembly (${error.message}): most likely the ` +
        `tensor backend's WebAssembly heap (at most 4 GB, on the wasm and native backends) ran out. Lower train.microBatchSize ` +
        `(sequences per pass; gradients are accumulated exactly) or generation.maxNewTokens, or use a smaller model`,
      { cause: error },
    );
  }
}
