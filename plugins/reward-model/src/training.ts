/**
 * Training a reward model: the batch loss (which logits each example's loss reads, with which labels
 * and weights) and the loop — shuffled batches, AdamW with gradient clipping, the learning-rate
 * schedule (the score head and the backbone at their own rates), and `eval/*` metrics at the end.
 */
import * as tf from '@tensorflow/tfjs';
import { AdamW, charToToken, DataError, learningRateAt, Rng, type RewardExample } from '@grpo/core';
import type { ScalarHeadModel } from '@grpo/plugin-transformer';
import { encodeForScoring } from './encoding.js';
import { bceLoss, noisyAndLogProb, noisyAndLoss, preferenceLoss, selectEntries } from './losses.js';
import type { Pooling } from './readout.js';

/** How `train` optimises. */
export interface TrainOptions {
  epochs?: number;
  /** Examples per optimizer step (a preference pair counts once); default 16. */
  batchSize?: number;
  learningRate?: number;
  /** `constant` (default, suits continued training) or `cosine` decay over this call's steps. */
  schedule?: 'constant' | 'cosine';
  warmupSteps?: number;
  weightDecay?: number;
  maxGradNorm?: number;
  /**
   * The backbone's learning rate is `learningRate` × this; the score head's is `learningRate`.
   * Default 1. Below 1 keeps a pretrained backbone (and what its language model knows) while the
   * fresh head learns; 0 trains the head alone.
   */
  backboneLrScale?: number;
  /** Shuffling seed; default 0 (each call draws a fresh order from the model's RNG otherwise). */
  seed?: number;
  /** Held-out examples: `eval/*` metrics after training. */
  eval?: readonly RewardExample[];
  onStep?: (record: { step: number; loss: number; lr: number; gradNorm: number }) => void;
}

/** The model's optimizer. Its weight decay is fixed here, from the model's training defaults. */
export function createOptimizer(defaults: Pick<TrainOptions, 'weightDecay'>): AdamW {
  return new AdamW({ beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: defaults.weightDecay ?? 0 });
}

/** What the losses of a batch read: the head's inputs and, per loss, which logits with which labels and weights. */
interface LossTargets {
  prompts: number[][];
  completions: number[][];
  /** Binary cross-entropy terms, each at one token (pooling `last`). */
  bce: { row: number; token: number; label: number; weight: number }[];
  /** Noisy-and terms, each over the first `length` tokens of a row (pooling `noisy-and`). */
  pooled: { row: number; length: number; label: number; weight: number }[];
  /** Preference pairs: the rows of the chosen and the rejected completion. */
  pairs: [number, number][];
}

function lossTargets(head: ScalarHeadModel, pooling: Pooling, batch: readonly RewardExample[]): LossTargets {
  const t: LossTargets = { prompts: [], completions: [], bce: [], pooled: [], pairs: [] };
  const noisyAnd = pooling === 'noisy-and';
  const add = (prompt: string, completion: string) => {
    const e = encodeForScoring(head.tokenizer, head.config.maxSeqLen, prompt, completion);
    t.prompts.push(e.prompt);
    t.completions.push(e.completion);
    return { row: t.prompts.length - 1, e };
  };
  for (const ex of batch) {
    if (ex.kind === 'outcome') {
      const { row, e } = add(ex.prompt, ex.completion);
      if (noisyAnd) t.pooled.push({ row, length: e.completion.length, label: ex.label, weight: 1 });
      else t.bce.push({ row, token: e.completion.length - 1, label: ex.label, weight: 1 });
    } else if (ex.kind === 'process') {
      const { row, e } = add(ex.prompt, ex.completion);
      for (const s of ex.steps) {
        const token = charToToken(e.ends, s.endChar);
        if (noisyAnd) t.pooled.push({ row, length: token + 1, label: s.reward, weight: 1 / ex.steps.length });
        else t.bce.push({ row, token, label: s.reward, weight: 1 / ex.steps.length });
      }
    } else {
      const c = add(ex.prompt, ex.chosen);
      const r = add(ex.prompt, ex.rejected);
      t.pairs.push([c.row, r.row]);
    }
  }
  return t;
}

/**
 * The training loss of a batch (a scalar tensor; differentiable): the sum of `bceLoss` (outcome and
 * process labels, pooling `last`), `noisyAndLoss` (pooling `noisy-and`) and `preferenceLoss`
 * (last-token logits), divided by the number of examples.
 */
export function batchLoss(head: ScalarHeadModel, pooling: Pooling, batch: readonly RewardExample[]): tf.Scalar {
  const { prompts, completions, bce, pooled, pairs } = lossTargets(head, pooling, batch);
  const lastIndex = completions.map((c) => c.length - 1);
  return tf.tidy(() => {
    const z = head.scores({ prompts, completions });
    const [B, L] = z.shape;
    const flat = z.reshape([B * L, 1]) as tf.Tensor2D;
    let total = tf.scalar(0);
    if (bce.length) {
      const at = selectEntries(
        flat,
        bce.map((t) => t.row * L + t.token),
      );
      total = tf.add(total, bceLoss(at, tf.tensor1d(bce.map((t) => t.label)), tf.tensor1d(bce.map((t) => t.weight))));
    }
    if (pooled.length) {
      const mask = new Float32Array(pooled.length * B * L);
      pooled.forEach((p, k) => mask.fill(1, k * B * L + p.row * L, k * B * L + p.row * L + p.length));
      const logP = noisyAndLogProb(flat, tf.tensor2d(mask, [pooled.length, B * L]));
      total = tf.add(total, noisyAndLoss(logP, tf.tensor1d(pooled.map((p) => p.label)), tf.tensor1d(pooled.map((p) => p.weight))));
    }
    if (pairs.length) {
      const chosen = selectEntries(
        flat,
        pairs.map(([c]) => c * L + lastIndex[c]!),
      );
      const rejected = selectEntries(
        flat,
        pairs.map(([, r]) => r * L + lastIndex[r]!),
      );
      total = tf.add(total, preferenceLoss(chosen, rejected));
    }
    return tf.div(total, Math.max(1, batch.length)) as tf.Scalar;
  });
}

/** What the loop trains. */
export interface TrainingTarget {
  readonly head: ScalarHeadModel;
  readonly optimizer: AdamW;
  readonly pooling: Pooling;
  /** Optimizer steps over the model's life: seeds each call's shuffle, numbers `onStep` records; advanced after every step. */
  readonly progress: { steps: number };
  /** Held-out metrics (`evaluate`), reported as `eval/*`. */
  evaluate(examples: readonly RewardExample[]): Promise<Record<string, number>>;
}

/** Trains on `examples` (any mix of kinds); returns the mean loss of the last epoch and, with `eval`, `eval/*` metrics. */
export async function runTraining(target: TrainingTarget, examples: readonly RewardExample[], o: TrainOptions): Promise<Record<string, number>> {
  if (examples.length === 0) throw new DataError('reward model training: no examples');
  for (const [i, ex] of examples.entries()) checkExample(ex, `example ${i}`);
  const { head, optimizer, progress } = target;
  const epochs = o.epochs ?? 1;
  const batchSize = Math.min(o.batchSize ?? 16, examples.length);
  const perEpoch = Math.ceil(examples.length / batchSize);
  const total = epochs * perEpoch;
  const rng = new Rng(`${o.seed ?? 0}:${progress.steps}`);
  const vars = head.trainableVariables();
  const headVars = new Set(head.headVariables());
  if (o.backboneLrScale !== undefined && !(o.backboneLrScale >= 0)) throw new RangeError(`backboneLrScale must be ≥ 0, got ${o.backboneLrScale}`);
  let epochLoss = 0;
  let step = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = rng.shuffle(examples.map((_, i) => i));
    epochLoss = 0;
    for (let b = 0; b < perEpoch; b++) {
      const batch = order.slice(b * batchSize, (b + 1) * batchSize).map((i) => examples[i]!);
      const { value, grads } = tf.variableGrads(() => batchLoss(head, target.pooling, batch), vars);
      const lr = learningRateAt(step, {
        learningRate: o.learningRate ?? 1e-3,
        schedule: o.schedule ?? 'constant',
        warmupSteps: o.warmupSteps ?? 0,
        totalSteps: total,
        minLrRatio: 0.1,
      });
      const scale = o.backboneLrScale ?? 1;
      const gradNorm = optimizer.update(vars, grads as Record<string, tf.Tensor>, {
        lr: scale === 1 ? lr : (v) => (headVars.has(v) ? lr : lr * scale),
        maxGradNorm: o.maxGradNorm ?? 1,
      });
      const loss = (await value.data())[0]!;
      value.dispose();
      if (!Number.isFinite(loss)) throw new DataError(`reward model training: the loss became ${loss}; lower the learning rate`);
      epochLoss += (loss * batch.length) / examples.length;
      o.onStep?.({ step: progress.steps, loss, lr, gradNorm });
      step++;
      progress.steps++;
    }
  }
  const metrics: Record<string, number> = { loss: epochLoss, steps: step, examples: examples.length };
  if (o.eval?.length) for (const [k, v] of Object.entries(await target.evaluate(o.eval))) metrics[`eval/${k}`] = v;
  return metrics;
}

function checkExample(ex: RewardExample, where: string): void {
  const bad = (msg: string): never => {
    throw new DataError(`reward model training: ${where}: ${msg}`);
  };
  if (typeof ex.prompt !== 'string') bad('prompt must be a string');
  if (ex.kind === 'preference') {
    if (typeof ex.chosen !== 'string' || !ex.chosen || typeof ex.rejected !== 'string' || !ex.rejected) bad('chosen and rejected must be non-empty strings');
    return;
  }
  if (typeof ex.completion !== 'string' || !ex.completion) bad('empty completion');
  if (ex.kind === 'outcome') {
    if (!(ex.label >= 0 && ex.label <= 1)) bad(`label must be in [0, 1], got ${String(ex.label)}`);
  } else if (ex.kind === 'process') {
    if (!Array.isArray(ex.steps) || ex.steps.length === 0) bad('a process example needs at least one step');
    for (const s of ex.steps) {
      if (!(s.reward >= 0 && s.reward <= 1)) bad(`step labels must be in [0, 1], got ${String(s.reward)}`);
      if (!Number.isInteger(s.endChar) || s.endChar < 0 || s.endChar > ex.completion.length) bad(`step end ${String(s.endChar)} is outside the completion`);
    }
  } else bad(`unknown kind ${JSON.stringify((ex as { kind: unknown }).kind)}`);
}
