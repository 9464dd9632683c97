/** Held-out metrics of a reward model, per kind of example. */
import { charToToken, type RewardExample } from '@grpo/core';
import type { TokenScores } from './encoding.js';
import { binaryAccuracy, firstWrongStep, pairwiseAccuracy, rocAuc, sigmoid } from './metrics.js';
import { softplus } from './readout.js';

/** What evaluation reads of a model: its per-token logits and how a score is pooled from them. */
export interface EvaluatedModel {
  tokenScores(items: readonly { prompt: string; completion: string }[]): Promise<TokenScores[]>;
  pooledLogit(logits: readonly number[], at: number): number;
  outcomeLogit(logits: readonly number[]): number;
}

/**
 * Held-out metrics per kind of example present:
 * - outcome: `outcome/accuracy` (σ ≥ 0.5 vs label), `outcome/auc`, `outcome/loss`;
 * - process: `process/step_accuracy`, `process/step_auc`, `process/first_error_accuracy` (the first
 *   step scored < 0.5 is the first step labelled wrong, or none when all are right) and the same over
 *   only the examples that have a wrong step (`process/first_error_accuracy_wrong`);
 * - preference: `preference/accuracy` (r_chosen > r_rejected) and `preference/margin`.
 */
export async function heldOutMetrics(model: EvaluatedModel, examples: readonly RewardExample[]): Promise<Record<string, number>> {
  const metrics: Record<string, number> = {};
  const outcome = examples.filter((e) => e.kind === 'outcome');
  if (outcome.length) {
    const logits = (await model.tokenScores(outcome)).map((s) => model.outcomeLogit(s.logits));
    const probs = logits.map(sigmoid);
    const labels = outcome.map((e) => e.label);
    metrics['outcome/accuracy'] = binaryAccuracy(probs, labels);
    const auc = rocAuc(logits, labels);
    if (!Number.isNaN(auc)) metrics['outcome/auc'] = auc;
    metrics['outcome/loss'] = logits.reduce((a, z, i) => a + labels[i]! * softplus(-z) + (1 - labels[i]!) * softplus(z), 0) / logits.length;
    metrics['outcome/count'] = outcome.length;
  }
  const process = examples.filter((e) => e.kind === 'process');
  if (process.length) {
    const scores = await model.tokenScores(process);
    const probs = scores.map((s, i) => process[i]!.steps.map((st) => sigmoid(model.pooledLogit(s.logits, charToToken(s.ends, st.endChar)))));
    const labels = process.map((e) => e.steps.map((s) => s.reward));
    metrics['process/step_accuracy'] = binaryAccuracy(probs.flat(), labels.flat());
    const auc = rocAuc(probs.flat(), labels.flat());
    if (!Number.isNaN(auc)) metrics['process/step_auc'] = auc;
    const hits = probs.map((p, i) => firstWrongStep(p) === firstWrongStep(labels[i]!));
    metrics['process/first_error_accuracy'] = hits.filter(Boolean).length / hits.length;
    const wrong = labels.map((l, i) => [firstWrongStep(l) >= 0, hits[i]!] as const).filter(([w]) => w);
    if (wrong.length) metrics['process/first_error_accuracy_wrong'] = wrong.filter(([, h]) => h).length / wrong.length;
    metrics['process/count'] = process.length;
  }
  const prefs = examples.filter((e) => e.kind === 'preference');
  if (prefs.length) {
    const chosen = (await model.tokenScores(prefs.map((p) => ({ prompt: p.prompt, completion: p.chosen })))).map((s) => s.logits[s.logits.length - 1]!);
    const rejected = (await model.tokenScores(prefs.map((p) => ({ prompt: p.prompt, completion: p.rejected })))).map((s) => s.logits[s.logits.length - 1]!);
    metrics['preference/accuracy'] = pairwiseAccuracy(chosen, rejected);
    metrics['preference/margin'] = chosen.reduce((a, c, i) => a + c - rejected[i]!, 0) / chosen.length;
    metrics['preference/count'] = prefs.length;
  }
  return metrics;
}
