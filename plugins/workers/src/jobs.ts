/**
 * What travels through the reward queue: one job per group of a step (its prompt, row and
 * completions, the reward names and the fault policy), and its result (one validated result per
 * reward, or the fault that stops the step). Plain JSON: numbers are finite, so they round-trip exactly.
 */
import { createHash } from 'node:crypto';
import type { DatasetRow, FinishReason, RewardResult, Rollout, ScoringRequest } from '@grpo/core';

/** One group to score. */
export interface ScoringJob {
  /** Which run the job is of (a digest of its output directory): runs never share results. */
  readonly run: string;
  /** Reward names, in the order the results come back. */
  readonly rewards: readonly string[];
  readonly timeoutMs: number;
  readonly onError: 'raise' | 'penalty';
  readonly penalty: number;
  readonly step: number;
  readonly round: number;
  readonly group: number;
  readonly prompt: string;
  readonly row: DatasetRow;
  readonly completions: readonly { readonly text: string; readonly tokenIds: readonly number[]; readonly finishReason: FinishReason }[];
}

/**
 * A job's outcome. `fault` is a reward fault under `raise` (the message names the reward and the
 * sample) or a worker that lacks a reward: the step stops, and the job is not retried, since
 * another try would fail the same way.
 */
export type ScoringOutcome =
  { readonly results: RewardResult[]; readonly worker: string } | { readonly fault: string; readonly kind: 'reward' | 'config'; readonly worker: string };

export function scoringJobs(request: ScoringRequest, run = ''): ScoringJob[] {
  const { options, step, round } = request;
  const rewards = request.functions.map((f) => f.name);
  return request.rollouts.map((r: Rollout, group) => ({
    run,
    rewards,
    timeoutMs: options.timeoutMs,
    onError: options.onError,
    penalty: options.penalty,
    step,
    round,
    group,
    prompt: r.prompt,
    row: r.row,
    completions: r.completions.map((c) => ({ text: c.text, tokenIds: c.tokenIds, finishReason: c.finishReason })),
  }));
}

/** A short stable name for a run: a digest of its output directory. */
export const runTag = (outputDir: string) => createHash('sha256').update(outputDir).digest('hex').slice(0, 12);

/**
 * The job's id: step, round and group, and a digest of what is scored (the run included). Adding a job whose id is
 * already in the queue does nothing, so a step that enqueues again (after Redis came back, or a
 * retried step) gets each group's result once; different work never shares an id.
 */
export function jobId(job: ScoringJob): string {
  const digest = createHash('sha256').update(JSON.stringify(job)).digest('hex').slice(0, 16);
  return `s${job.step}-r${job.round}-g${job.group}-${digest}`;
}
