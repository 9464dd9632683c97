/**
 * The update stage: μ passes over mini-batches, each an optimizer step whose gradient is
 * accumulated over the prepared micro-batches. The loss of a micro-batch is the objective's plus
 * each participant's term; the loss aggregation is normalised over the whole mini-batch
 * (`AggregationContext`), so micro-batching changes nothing but memory.
 */
import * as tf from '@tensorflow/tfjs';
import type { AggregationContext, Algorithm } from '../contracts/algorithm.js';
import type { Policy } from '../contracts/policy.js';
import type { UpdateParticipant } from '../contracts/update.js';
import { GrpoError } from '../errors.js';
import type { AdvantageBatch } from '../records.js';
import type { AdamW } from '../trainer/adamw.js';
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
}

export interface UpdateResult {
  /** Mean over optimizer steps of the mini-batch loss. */
  loss: number;
  /** Mean over optimizer steps of the policy's gradient norm before clipping. */
  gradNorm: number;
  lr: number;
  /** The objective's and participants' metrics, token-weighted over micro-batches; participants' step metrics averaged over steps. */
  metrics: Record<string, number>;
}

const validTokens = (mask: readonly number[]) => mask.reduce((a, m) => a + m, 0);

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

  /** One micro-batch's loss, inside the gradient computation; keeps its metrics in `kept`. */
  const microLoss = (m: MicroBatch, aggregationContext: AggregationContext, kept: [string, tf.Scalar][]): tf.Scalar => {
    const rows = samples.slice(m.start, m.end);
    const { logprobs, entropy } = context.policy.tokenLogProbs(m.tokens, { entropy: true });
    const L = logprobs.shape[1];
    const mask = padded(
      rows.map((s) => s.mask),
      L,
    );
    // μ = 1 with one mini-batch: π_old = π_θ, as a constant (a detached copy of the values).
    const oldLogprobs = m.oldLogprobs ?? tf.tensor2d(logprobs.dataSync(), logprobs.shape);
    const result = objective.loss(
      {
        logprobs,
        oldLogprobs,
        refLogprobs: kl.placement === 'loss' ? m.refLogprobs : undefined,
        advantages: padded(estimated.advantages.slice(m.start, m.end), L),
        mask,
        entropy,
      },
      aggregation,
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

  for (let iteration = 0; iteration < context.numIterations; iteration++) {
    for (let from = 0; from < samples.length; from += mini) {
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
      for (const m of microBatches.filter((mb) => mb.start >= from && mb.end <= to)) {
        const kept: [string, tf.Scalar][] = [];
        const { value, grads } = tf.variableGrads(() => microLoss(m, aggregationContext, kept), allVars);
        batchLoss += value.dataSync()[0] ?? 0;
        value.dispose();
        const tokens = samples.slice(m.start, m.end).reduce((a, s) => a + validTokens(s.mask), 0);
        for (const [name, metric] of kept) {
          sums[name] = (sums[name] ?? 0) + (metric.dataSync()[0] ?? 0) * tokens;
          metric.dispose();
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
      if (!Number.isFinite(batchLoss))
        throw new GrpoError(`the loss became ${batchLoss} at step ${context.step}; lower train.learningRate or check the rewards`);
      // The policy and each participant step their own optimizers with their own gradients.
      const policyGrads: Record<string, tf.Tensor> = {};
      const participantGrads = owned.map(() => ({}) as Record<string, tf.Tensor>);
      for (const [k, g] of Object.entries(accumulated ?? {})) {
        const owner = ownerOf.get(k);
        (owner === undefined ? policyGrads : participantGrads[owner]!)[k] = g;
      }
      lr = context.learningRate();
      gradNorm += context.optimizer.update(policyVars, policyGrads, { lr, maxGradNorm: context.maxGradNorm });
      owned.forEach((o, k) => {
        if (!Object.keys(participantGrads[k]!).length) return;
        for (const [name, value] of Object.entries(o.participant.applyGradients(participantGrads[k]!, lr))) stepSums[name] = (stepSums[name] ?? 0) + value;
      });
      loss += batchLoss;
      updates++;
    }
  }
  const metrics = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, weight > 0 ? v / weight : 0]));
  for (const [k, v] of Object.entries(stepSums)) metrics[k] = v / Math.max(1, updates);
  return { loss: loss / Math.max(1, updates), gradNorm: gradNorm / Math.max(1, updates), lr, metrics };
}
