/**
 * Off-policy correction between a rollout engine and the trainer. An engine other than the
 * trainer's own sampler (llama.cpp, vLLM behind HTTP) computes slightly different probabilities
 * (other kernels, quantisation), so its samples are slightly off-policy for the trainer's π_old.
 * Truncated importance sampling (TIS) multiplies each token's loss by a bounded ratio
 * ρ = π_old,trainer(y) / π_engine(y), exactly as TRL's `vllm_importance_sampling_*`:
 *
 * - `token_truncate`:    ρ_t = clamp(exp(Δ_t), clipMin, clipMax)
 * - `token_mask`:        ρ_t = exp(Δ_t), or 0 when outside [clipMin, clipMax]
 * - `sequence_truncate`: ρ = clamp(exp(Σ_t Δ_t), clipMin, clipMax) on every token of the sequence
 * - `sequence_mask`:     ρ = exp(Σ_t Δ_t), or 0 when outside [clipMin, clipMax]
 *
 * with Δ_t = log π_old,trainer − log π_engine. A weight of 0 keeps the token in the loss's
 * normaliser (TRL multiplies the per-token loss; it does not change the mask).
 *
 * Both log-probs must be of the same distribution: the model's full softmax at temperature 1
 * (vLLM's `raw_logprobs`). Log-probs of the processed distribution (temperature, top-k, top-p
 * renormalised over the kept tokens) differ from the trainer's by log S, S the kept mass, at every
 * token whatever the weights (trl#6789): `engineLogprobs` refuses them unless sampling was plain.
 */
import { EngineError } from '../errors.js';
import type { SamplingOptions } from '../contracts/policy.js';
import type { Completion } from '../records.js';

export type CorrectionMode = 'token_truncate' | 'token_mask' | 'sequence_truncate' | 'sequence_mask';
export const CORRECTION_MODES: readonly CorrectionMode[] = ['token_truncate', 'token_mask', 'sequence_truncate', 'sequence_mask'];

/** Bounds of the ratio; an absent bound does not bound (TRL's `vllm_importance_sampling_clip_min/max`). */
export interface CorrectionBounds {
  readonly clipMin?: number;
  readonly clipMax?: number;
}

/** One sequence's weights `[t]` from the trainer's and the engine's log-probs of its tokens `[t]`. */
export type ImportanceCorrection = (trainer: readonly number[], engine: readonly number[], bounds: CorrectionBounds) => number[];

const clamp = (x: number, { clipMin, clipMax }: CorrectionBounds) => Math.min(clipMax ?? Infinity, Math.max(clipMin ?? -Infinity, x));
const inside = (x: number, { clipMin, clipMax }: CorrectionBounds) => x >= (clipMin ?? -Infinity) && x <= (clipMax ?? Infinity);
const deltas = (trainer: readonly number[], engine: readonly number[]) => trainer.map((t, i) => t - (engine[i] as number));
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** The four modes by name; a registry so a plugin or a test can look one up by its config name. */
export const importanceCorrections: Readonly<Record<CorrectionMode, ImportanceCorrection>> = {
  token_truncate: (trainer, engine, bounds) => deltas(trainer, engine).map((d) => clamp(Math.exp(d), bounds)),
  token_mask: (trainer, engine, bounds) =>
    deltas(trainer, engine).map((d) => {
      const r = Math.exp(d);
      return inside(r, bounds) ? r : 0;
    }),
  sequence_truncate: (trainer, engine, bounds) => {
    const r = clamp(Math.exp(sum(deltas(trainer, engine))), bounds);
    return trainer.map(() => r);
  },
  sequence_mask: (trainer, engine, bounds) => {
    const r = Math.exp(sum(deltas(trainer, engine)));
    return trainer.map(() => (inside(r, bounds) ? r : 0));
  },
};

export interface CorrectionInput {
  /** log π_old under the trainer, per sequence `[sample][t]`. */
  readonly trainer: readonly (readonly number[])[];
  /** The engine's log-probs of the same tokens `[sample][t]` (`engineLogprobs`). */
  readonly engine: readonly (readonly number[])[];
  /** Sequences left out of the loss (`ScoredGroup.masked`): no weight is computed and no figure counts them. */
  readonly excluded?: readonly boolean[];
}

/**
 * Engine–trainer mismatch figures over the tokens of the sequences in the loss, under verl's and
 * TRL's names: `mismatch/mismatch_kl` = mean(log π_engine − log π_trainer) (KL(π_engine ‖ π_trainer)
 * estimated on the engine's own samples), `mismatch/mismatch_k3_kl` = mean(e^δ − δ − 1) with
 * δ = log π_trainer − log π_engine, `sampling/sampling_logp_difference/{mean,max}` of |δ|.
 */
export function mismatchMetrics(input: CorrectionInput): Record<string, number> {
  let n = 0;
  let k1 = 0;
  let k3 = 0;
  let abs = 0;
  let maxAbs = 0;
  input.trainer.forEach((row, i) => {
    if (input.excluded?.[i]) return;
    row.forEach((t, j) => {
      const d = t - (input.engine[i]![j] as number);
      n++;
      k1 -= d;
      k3 += Math.exp(d) - d - 1;
      abs += Math.abs(d);
      maxAbs = Math.max(maxAbs, Math.abs(d));
    });
  });
  const m = Math.max(1, n);
  return {
    'mismatch/mismatch_kl': k1 / m,
    'mismatch/mismatch_k3_kl': k3 / m,
    'sampling/sampling_logp_difference/mean': abs / m,
    'sampling/sampling_logp_difference/max': maxAbs,
  };
}

/**
 * The per-token weights `[sample][t]` of a batch under `mode`, and their figures under TRL's names
 * (`sampling/importance_sampling_ratio/{min,mean,max}`, over tokens for the token modes and over
 * sequences for the sequence modes) and verl's (`mismatch/rollout_is_masked_fraction`, the share of
 * tokens whose weight the mask modes set to 0). Excluded sequences get weight 1 (their mask is 0).
 */
export function correctionWeights(
  mode: CorrectionMode,
  input: CorrectionInput,
  bounds: CorrectionBounds,
): { weights: number[][]; metrics: Record<string, number> } {
  const correction = importanceCorrections[mode];
  const perSequence = mode.startsWith('sequence');
  const ratios: number[] = [];
  let tokens = 0;
  let zeroed = 0;
  const weights = input.trainer.map((row, i) => {
    if (input.excluded?.[i]) return row.map(() => 1);
    const w = correction(row, input.engine[i]!, bounds);
    if (perSequence && w.length) ratios.push(w[0]!);
    else ratios.push(...w);
    tokens += w.length;
    if (mode.endsWith('mask')) zeroed += w.filter((x) => x === 0).length;
    return w;
  });
  const metrics: Record<string, number> = {
    'sampling/importance_sampling_ratio/min': ratios.length ? Math.min(...ratios) : 0,
    'sampling/importance_sampling_ratio/mean': ratios.length ? sum(ratios) / ratios.length : 0,
    'sampling/importance_sampling_ratio/max': ratios.length ? Math.max(...ratios) : 0,
    'mismatch/rollout_is_masked_fraction': zeroed / Math.max(1, tokens),
  };
  return { weights, metrics };
}

/** True when sampling used the model's plain distribution: temperature 1, no top-k, no top-p. */
export function plainSampling(options: Pick<SamplingOptions, 'temperature' | 'topK' | 'topP'>): boolean {
  return options.temperature === 1 && !(options.topK && options.topK > 0) && !(options.topP !== undefined && options.topP < 1);
}

/**
 * The engine's log-probs to compare with the trainer's: `rawLogprobs` when the engine reports
 * them, else `logprobs` when sampling was plain (then they are the same distribution). Otherwise
 * the comparison would carry the truncation bias of trl#6789, so this refuses, naming the engine.
 */
export function engineLogprobs(completion: Completion, sampling: Pick<SamplingOptions, 'temperature' | 'topK' | 'topP'>, engine: string): number[] {
  const checked = (logprobs: number[]) => {
    if (logprobs.length !== completion.tokenIds.length)
      throw new EngineError(`rollout engine '${engine}' returned ${logprobs.length} log-probs for ${completion.tokenIds.length} tokens`);
    return logprobs;
  };
  if (completion.rawLogprobs) return checked(completion.rawLogprobs);
  if (plainSampling(sampling)) return checked(completion.logprobs);
  throw new EngineError(
    `rollout engine '${engine}' reports only the log-probs of the distribution it sampled from (temperature ${sampling.temperature}` +
      `${sampling.topK ? `, topK ${sampling.topK}` : ''}${sampling.topP !== undefined && sampling.topP < 1 ? `, topP ${sampling.topP}` : ''}), which differ from ` +
      `the trainer's full-softmax log-probs by the kept mass at every token (trl#6789), so the off-policy correction cannot use them. ` +
      `Sample with generation.temperature 1, topK 0 and topP 1, use an engine that reports raw log-probs, or set generation.correction.enabled: off`,
  );
}
