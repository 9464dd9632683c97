/**
 * How a reward model's per-token logits z_t become scores: the scoring options (saved with the
 * checkpoint), their defaults and checks, and the pooling that turns z_1..z_t into the logit of
 * "right up to and including token t".
 */
import { sigmoid } from './metrics.js';
import type { StepSplitOptions } from './steps.js';

export type RewardModelMode = 'outcome' | 'process' | 'preference';
export type Pooling = 'last' | 'noisy-and';

/** How the reward model scores (serves) completions; saved with the checkpoint. */
export interface ScoringOptions {
  /** Reward-function name; default `rm`. */
  readonly name?: string;
  /** What `score` returns: an outcome score, per-step scores (PRM), or a preference score. Default `outcome`. */
  readonly mode?: RewardModelMode;
  /** `probability` (σ of the head) or the raw `logit`; default `probability` (outcome, process), `logit` (preference). */
  readonly output?: 'probability' | 'logit';
  /**
   * How outcome and step scores are read from the per-token scores z_t:
   * - `last` (default): σ(z) at one token — the last one (outcome), the step's last one (process);
   * - `noisy-and`: P(right so far) = Π σ(z_t) over the tokens up to that point — the whole
   *   completion (outcome) or everything up to the step's end (process: a step built on a wrong one
   *   is wrong too, as the math task's `step_correctness` rules). Text is right only if no token is
   *   wrong, so a wrong label sends the gradient to its least likely tokens (multiple-instance
   *   learning) instead of asking one token to find the error.
   */
  readonly pooling?: Pooling;
  /** PRM: the completion's overall score is the `min` of its step scores (default) or the `last` one. */
  readonly processScore?: 'min' | 'last';
  /** PRM: where steps end; default each non-blank line. */
  readonly steps?: StepSplitOptions;
  /** Completions per forward pass when scoring; default 32. */
  readonly batchSize?: number;
}

/** Scoring options with their defaults filled in (`output` and `steps` stay optional). */
export type ResolvedScoring = Required<Omit<ScoringOptions, 'output' | 'steps'>> & Pick<ScoringOptions, 'output' | 'steps'>;

export const MODES: readonly RewardModelMode[] = ['outcome', 'process', 'preference'];

export const isPooling = (value: unknown): value is Pooling => value === 'last' || value === 'noisy-and';

/** Fills in the defaults and checks `mode` and `pooling`. */
export function resolveScoring(scoring: ScoringOptions): ResolvedScoring {
  const mode = scoring.mode ?? 'outcome';
  if (!MODES.includes(mode)) throw new RangeError(`reward model mode must be one of ${MODES.join(', ')}, got ${String(mode)}`);
  const pooling = scoring.pooling ?? 'last';
  if (!isPooling(pooling)) throw new RangeError(`pooling must be 'last' or 'noisy-and', got ${String(pooling)}`);
  return {
    name: scoring.name ?? 'rm',
    mode,
    pooling,
    processScore: scoring.processScore ?? 'min',
    batchSize: scoring.batchSize ?? 32,
    output: scoring.output,
    steps: scoring.steps,
  };
}

/** What a served score is: σ(logit), or the logit itself (`output`; by default the logit for a preference model). */
export function outputOf(logit: number, scoring: Pick<ResolvedScoring, 'mode' | 'output'>): number {
  const output = scoring.output ?? (scoring.mode === 'preference' ? 'logit' : 'probability');
  return output === 'logit' ? logit : sigmoid(logit);
}

/** softplus(z) = log(1 + eᶻ), linear above 20. */
export const softplus = (z: number): number => (z > 20 ? z : Math.log1p(Math.exp(z)));

/** logit(Π_t σ(z_t)): log P − log(1 − P) with log P = −Σ softplus(−z_t), stable for P near 0 and 1. */
export function noisyAndLogit(logits: readonly number[]): number {
  const logP = Math.min(-1e-12, -logits.reduce((a, z) => a + softplus(-z), 0));
  return logP - Math.log(-Math.expm1(logP));
}

/** The logit of "right up to and including token `at`": z_at (`last`), or the noisy-and of z_0..z_at. */
export function pooledLogit(logits: readonly number[], at: number, pooling: Pooling): number {
  return pooling === 'noisy-and' ? noisyAndLogit(logits.slice(0, at + 1)) : logits[at]!;
}
