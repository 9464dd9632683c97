/**
 * Supervised fine-tuning: cross-entropy on completion tokens only (the prompt is context, not a
 * target), AdamW with linear warmup + cosine decay, global-norm gradient clipping, and an
 * optional held-out loss.
 */
import * as tf from '@tensorflow/tfjs';
import { AdamW, learningRateAt, Rng, type TokenBatch } from '@grpo/core';

import type { TransformerPolicy } from './policy.js';

/** One SFT example: text (encoded with the policy's tokenizer: BOS + prompt, completion + EOS) or token ids. */
export type SftExample = { prompt: string; completion: string } | { promptIds: readonly number[]; completionIds: readonly number[] };

export interface SftOptions {
  train: readonly SftExample[];
  eval?: readonly SftExample[];
  steps: number;
  batchSize?: number;
  learningRate?: number;
  warmupSteps?: number;
  minLrRatio?: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  maxGradNorm?: number;
  /** Held-out loss every this many steps (and after the last step); 0 = only at the end. */
  evalEvery?: number;
  seed?: number;
  onStep?: (record: SftStepRecord) => void;
  /** Awaited every `callbackEvery` steps (after the step), e.g. to measure accuracy or save a checkpoint. */
  onProgress?: (step: number) => Promise<void>;
  callbackEvery?: number;
}

export interface SftStepRecord {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
}

export interface SftResult {
  history: SftStepRecord[];
  evalHistory: { step: number; loss: number }[];
}

function toIds(policy: TransformerPolicy, ex: SftExample): { p: readonly number[]; c: readonly number[] } {
  if ('promptIds' in ex) return { p: ex.promptIds, c: ex.completionIds };
  return { p: policy.encodePrompt(ex.prompt), c: policy.tokenizer.encode(ex.completion, { addEos: true }) };
}

/** Mean negative log-likelihood over all completion tokens of the batch (a scalar tensor). */
export function sftLoss(policy: TransformerPolicy, batch: TokenBatch): tf.Scalar {
  return tf.tidy(() => {
    const { logprobs } = policy.tokenLogProbs(batch);
    const count = batch.completions.reduce((n, c) => n + c.length, 0);
    return tf.div(tf.neg(tf.sum(logprobs)), Math.max(1, count)) as tf.Scalar;
  });
}

export async function sft(policy: TransformerPolicy, options: SftOptions): Promise<SftResult> {
  const train = options.train.map((e) => toIds(policy, e));
  const evalSet = (options.eval ?? []).map((e) => toIds(policy, e));
  if (train.length === 0) throw new Error('sft: no training examples');
  const batchSize = Math.min(options.batchSize ?? 16, train.length);
  const lr = options.learningRate ?? 1e-3;
  const optimizer = new AdamW({ beta1: options.beta1 ?? 0.9, beta2: options.beta2 ?? 0.95, eps: 1e-8, weightDecay: options.weightDecay ?? 0 });
  const rng = new Rng(options.seed ?? 0);
  const vars = policy.trainableVariables();
  const history: SftStepRecord[] = [];
  const evalHistory: { step: number; loss: number }[] = [];
  let order: number[] = [];
  const evalLoss = async (step: number) => {
    if (!evalSet.length) return;
    let total = 0;
    let tokens = 0;
    for (let i = 0; i < evalSet.length; i += batchSize) {
      const chunk = evalSet.slice(i, i + batchSize);
      const loss = sftLoss(policy, { prompts: chunk.map((e) => e.p), completions: chunk.map((e) => e.c) });
      const n = chunk.reduce((s, e) => s + e.c.length, 0);
      total += ((await loss.data())[0] as number) * n;
      tokens += n;
      loss.dispose();
    }
    evalHistory.push({ step, loss: total / Math.max(1, tokens) });
  };
  try {
    for (let step = 0; step < options.steps; step++) {
      if (order.length < batchSize) order = order.concat(rng.shuffle(train.map((_, i) => i)));
      const picked = order.splice(0, batchSize).map((i) => train[i] as { p: readonly number[]; c: readonly number[] });
      const batch: TokenBatch = { prompts: picked.map((e) => e.p), completions: picked.map((e) => e.c) };
      const { value, grads } = tf.variableGrads(() => sftLoss(policy, batch), vars);
      const stepLr = learningRateAt(step, {
        learningRate: lr,
        schedule: 'cosine',
        warmupSteps: options.warmupSteps ?? 0,
        totalSteps: options.steps,
        minLrRatio: options.minLrRatio ?? 0.1,
      });
      const gradNorm = optimizer.update(vars, grads as Record<string, tf.Tensor>, { lr: stepLr, maxGradNorm: options.maxGradNorm ?? 1 });
      const loss = await value.data();
      value.dispose();
      const record: SftStepRecord = { step, loss: loss[0] as number, lr: stepLr, gradNorm };
      history.push(record);
      options.onStep?.(record);
      const every = options.evalEvery ?? 0;
      if (every > 0 && (step + 1) % every === 0 && step + 1 < options.steps) await evalLoss(step + 1);
      const cbEvery = options.callbackEvery ?? 0;
      if (options.onProgress && cbEvery > 0 && (step + 1) % cbEvery === 0) await options.onProgress(step + 1);
    }
    await evalLoss(options.steps);
  } finally {
    optimizer.dispose();
  }
  return { history, evalHistory };
}
