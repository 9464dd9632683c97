/**
 * The prepare stage: the step's groups as training samples (prompt and completion ids, loss mask),
 * cut into the micro-batches the update runs, with what is computed without gradients before
 * estimation: π_old and π_ref log-probs and the participants' values. They stay tensors, one per
 * micro-batch, in exactly the layout the update consumes.
 */
import * as tf from '@tensorflow/tfjs';
import type { LogProbModel } from '../contracts/policy.js';
import type { UpdateParticipant } from '../contracts/update.js';
import type { ScoredGroup, TokenBatch } from '../records.js';
import { chunks, unpadded } from './batch.js';

/** One completion as the update sees it. */
export interface TrainSample {
  readonly promptIds: readonly number[];
  readonly completionIds: readonly number[];
  /** 1 where the token counts in the loss; 0 for masked completions (`ScoredGroup.masked`) and for environment tokens (`Completion.mask`). */
  readonly mask: readonly number[];
}

/** Consecutive samples `[start, end)` that go through one forward/backward pass, with their tensors `[end − start, L]`. */
export interface MicroBatch {
  readonly start: number;
  readonly end: number;
  readonly tokens: TokenBatch;
  /** log π_old, when a separate forward pass is needed (μ > 1, several mini-batches, or asked for). */
  readonly oldLogprobs?: tf.Tensor2D;
  /** log π_ref, when a reference policy is loaded. */
  readonly refLogprobs?: tf.Tensor2D;
  /** The value-giving participant's values. */
  readonly values?: tf.Tensor2D;
}

/** A step's samples, prepared. Owns the micro-batches' tensors until `disposePrepared`. */
export interface PreparedBatch {
  readonly samples: readonly TrainSample[];
  readonly microBatches: readonly MicroBatch[];
}

/** One training sample per completion, in group order. */
export function trainSamples(groups: readonly ScoredGroup[]): TrainSample[] {
  return groups.flatMap((g) =>
    g.completions.map((c, i) => {
      const masked = g.masked?.[i] === true;
      return { promptIds: g.promptIds, completionIds: c.tokenIds, mask: c.tokenIds.map((_, t) => (masked ? 0 : (c.mask?.[t] ?? 1))) };
    }),
  );
}

export function tokenBatch(samples: readonly TrainSample[]): TokenBatch {
  return { prompts: samples.map((s) => s.promptIds), completions: samples.map((s) => s.completionIds) };
}

export interface PrepareContext {
  /** π_θ, for π_old log-probs when `needOldLogprobs`. */
  policy: LogProbModel;
  reference?: LogProbModel;
  /** The participant that gives values (at most one). */
  valuer?: Pick<UpdateParticipant, 'values'>;
  needOldLogprobs: boolean;
  microBatchSize: number;
}

export function prepare(groups: readonly ScoredGroup[], context: PrepareContext): PreparedBatch {
  const samples = trainSamples(groups);
  const microBatches: MicroBatch[] = [];
  let start = 0;
  for (const part of chunks(samples, context.microBatchSize)) {
    const tokens = tokenBatch(part);
    const logprobs = (model: LogProbModel) => tf.tidy(() => model.tokenLogProbs(tokens).logprobs);
    microBatches.push({
      start,
      end: start + part.length,
      tokens,
      ...(context.needOldLogprobs ? { oldLogprobs: logprobs(context.policy) } : {}),
      ...(context.reference ? { refLogprobs: logprobs(context.reference) } : {}),
      ...(context.valuer?.values ? { values: tf.tidy(() => context.valuer!.values!(tokens)) } : {}),
    });
    start += part.length;
  }
  return { samples, microBatches };
}

/** A prepared per-micro-batch tensor as per-sample arrays (unpadded), e.g. for the estimator. */
export function perSample(batch: PreparedBatch, key: 'oldLogprobs' | 'refLogprobs' | 'values'): number[][] | undefined {
  if (!batch.microBatches.length || !batch.microBatches[0]![key]) return undefined;
  return batch.microBatches.flatMap((m) =>
    unpadded(
      m[key]!,
      batch.samples.slice(m.start, m.end).map((s) => s.completionIds.length),
    ),
  );
}

export function disposePrepared(batch: PreparedBatch): void {
  for (const m of batch.microBatches) tf.dispose([m.oldLogprobs, m.refLogprobs, m.values].filter((t): t is tf.Tensor2D => t !== undefined));
}
