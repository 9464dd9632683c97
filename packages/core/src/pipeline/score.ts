/**
 * The score stage: every reward function on every completion of the rollouts, concurrently, each
 * call validated (shape, finite values, step offsets) under a timeout and the fault policy.
 */
import type { RewardFunction, RewardInput, RewardResult, RewardScore, RewardScorer, ValidatedScore } from '../contracts/reward.js';
import type { Tokenizer } from '../contracts/tokenizer.js';
import { errorMessage, RewardError } from '../errors.js';
import type { Rollout, ScoredGroup, TokenStepReward } from '../records.js';
import { mean, std } from '../util/stats.js';
import { charToToken, tokenCharEnds } from '../util/text.js';

export interface RewardRunOptions {
  /** Weight per reward name; missing names weigh 1. */
  weights: Readonly<Record<string, number>>;
  /** Per-call timeout. */
  timeoutMs: number;
  /** `raise`: stop the step; `penalty`: score the failing samples `penalty` and count them. */
  onError: 'raise' | 'penalty';
  penalty: number;
  /** Stops every reward call in flight (their `input.signal` fires) and makes new ones fail as timed out. */
  signal?: AbortSignal;
}

export interface ScoredBatch {
  groups: ScoredGroup[];
  metrics: Record<string, number>;
}

export type { ValidatedScore } from '../contracts/reward.js';
type Normalised = ValidatedScore;

const preview = (text: string, n = 60) => JSON.stringify(text.length > n ? `${text.slice(0, n)}…` : text);

class TimeoutError extends Error {}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';

/**
 * One call of `fn.score` under a timeout of `ms`. The reward gets an `AbortSignal` (`input.signal`)
 * that fires when the time is up, when `outer` fires, or when the call fails, so an async reward
 * can cancel its work (a `fetch`, a child process) instead of running on in the background.
 *
 * A synchronous reward cannot be interrupted in this thread: it runs to the end, and a result
 * that took longer than `ms` counts as timed out (a reward that never returns blocks the process;
 * run such rewards with `workerReward`, which enforces the timeout by stopping its worker).
 */
async function callReward(fn: RewardFunction, input: RewardInput, ms: number, outer?: AbortSignal): Promise<readonly RewardScore[]> {
  if (ms <= 0) throw new TimeoutError('the time budget was spent before this call');
  if (outer?.aborted) throw new TimeoutError('the scoring stage was stopped');
  const controller = new AbortController();
  const stop = () => controller.abort(outer?.reason);
  outer?.addEventListener('abort', stop, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let settled = false;
  try {
    const started = performance.now();
    const result = fn.score({ ...input, signal: controller.signal });
    if (!isThenable(result)) {
      const took = performance.now() - started;
      if (took > ms) throw new TimeoutError(`ran synchronously for ${Math.round(took)} ms, longer than its timeout of ${ms} ms,`);
      settled = true;
      return result;
    }
    const value = await Promise.race([
      result,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const error = new TimeoutError(`timed out after ${ms} ms`);
          // Rejected before the abort, so a reward that rejects on abort does not win the race.
          reject(error);
          controller.abort(error);
        }, ms);
      }),
    ]);
    settled = true;
    return value;
  } catch (error) {
    // Whatever the reward did once its time was up (rejected on abort, say), the call timed out.
    if (controller.signal.aborted && controller.signal.reason instanceof TimeoutError) throw controller.signal.reason;
    throw error;
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', stop);
    // A call that failed (threw, timed out) must not keep working in the background.
    if (!settled && !controller.signal.aborted) controller.abort(new Error('the reward call failed'));
  }
}

/** Checks one score; returns an error description or the normalised score. */
function normalise(value: RewardScore | undefined, completionLength: number): Normalised | string {
  if (value === null) return { score: null };
  if (typeof value === 'number') return Number.isFinite(value) ? { score: value } : `returned ${value}`;
  if (typeof value !== 'object' || value === undefined || Array.isArray(value))
    return `returned ${JSON.stringify(value) ?? String(value)} (expected a number, null or { score })`;
  const { score, steps, info } = value;
  if (score !== null && (typeof score !== 'number' || !Number.isFinite(score))) return `returned score ${String(score)}`;
  if (steps !== undefined) {
    if (!Array.isArray(steps)) return 'returned steps that are not an array';
    for (const [j, s] of steps.entries()) {
      if (!s || !Number.isFinite(s.reward)) return `returned step ${j} with reward ${String(s?.reward)}`;
      if (!Number.isInteger(s.endChar) || s.endChar < 0 || s.endChar > completionLength)
        return `returned step ${j} ending at character ${String(s.endChar)}, outside the completion (length ${completionLength})`;
    }
  }
  return { score, steps, info };
}

/**
 * One reward function's scores for a reward input, validated as the trainer validates them (one
 * score per completion, finite values, step offsets inside the completion) under `timeoutMs`.
 * With `raise` a bad score is a `RewardError` naming the reward and the sample; with `penalty` it
 * scores `penalty` and counts in `errors`.
 *
 * `timeoutMs` is one budget for the whole call: when the batch throws, the samples are scored
 * again one at a time (to name the one that fails) within what is left of it, and with `penalty`
 * the samples the budget does not reach score `penalty` too. The reward's `input.signal` fires
 * when its call times out or fails (and when `options.signal` fires).
 */
export async function scoreWith(fn: RewardFunction, input: RewardInput, options: Omit<RewardRunOptions, 'weights'>): Promise<RewardResult> {
  const n = input.completions.length;
  const describe = (i: number) => `sample ${i} (prompt ${preview(input.prompts[i] ?? '')}, completion ${preview(input.completions[i] ?? '')})`;
  const fail = (message: string): never => {
    throw new RewardError(`Reward '${fn.name}' ${message}`);
  };
  const penalise = (count: number) => ({ scores: Array.from({ length: count }, () => ({ score: options.penalty })), errors: count });
  const deadline = performance.now() + options.timeoutMs;
  const left = () => Math.floor(deadline - performance.now());

  let raw: readonly RewardScore[];
  try {
    raw = await callReward(fn, input, options.timeoutMs, options.signal);
  } catch (error) {
    if (error instanceof TimeoutError) {
      if (options.onError === 'penalty') return penalise(n);
      return fail(`${error.message} on a batch of ${n} samples (first: ${describe(0)}); raise rewards.timeoutMs or make it faster`);
    }
    // Find the sample that makes it throw by scoring one at a time, within what is left of the budget.
    const scores: Normalised[] = [];
    let errors = 0;
    for (let i = 0; i < n; i++) {
      const one = sliceInput(input, i);
      try {
        const [value] = await callReward(fn, one, left(), options.signal);
        const checked = normalise(value, input.completions[i]!.length);
        if (typeof checked === 'string') throw new Error(checked);
        scores.push(checked);
      } catch (inner) {
        if (inner instanceof TimeoutError) {
          if (options.onError === 'raise')
            fail(
              `threw on a batch of ${n} samples (${errorMessage(error)}); scoring them one at a time to find the one that fails ` +
                `did not finish within rewards.timeoutMs (${options.timeoutMs} ms) at ${describe(i)}`,
            );
          // The budget is spent: this sample and the rest score the penalty.
          scores.push(...penalise(n - i).scores);
          errors += n - i;
          break;
        }
        if (options.onError === 'raise') fail(`threw on ${describe(i)}: ${errorMessage(inner)}`);
        scores.push({ score: options.penalty });
        errors++;
      }
    }
    if (errors === 0 && options.onError === 'raise') fail(`threw on a batch of ${n} samples but not on any one alone: ${errorMessage(error)}`);
    return { scores, errors };
  }
  if (!Array.isArray(raw) || raw.length !== n) {
    if (options.onError === 'penalty') return penalise(n);
    return fail(
      `returned ${Array.isArray(raw) ? `${raw.length} scores` : typeof raw} for ${n} completions; it must return exactly one score (or null) per completion`,
    );
  }
  const scores: Normalised[] = [];
  let errors = 0;
  for (let i = 0; i < n; i++) {
    const checked = normalise(raw[i], input.completions[i]!.length);
    if (typeof checked === 'string') {
      if (options.onError === 'raise') fail(`${checked} for ${describe(i)}; scores must be finite numbers or null`);
      scores.push({ score: options.penalty });
      errors++;
    } else scores.push(checked);
  }
  return { scores, errors };
}

function sliceInput(input: RewardInput, i: number): RewardInput {
  return {
    prompts: input.prompts.slice(i, i + 1),
    completions: input.completions.slice(i, i + 1),
    completionIds: input.completionIds.slice(i, i + 1),
    finishReasons: input.finishReasons.slice(i, i + 1),
    rows: input.rows.slice(i, i + 1),
    ...(input.turns ? { turns: input.turns.slice(i, i + 1) } : {}),
  };
}

/** The reward functions' view of rollouts: one entry per completion, in group order. */
export function rewardInput(rollouts: readonly Rollout[]): RewardInput {
  return {
    prompts: rollouts.flatMap((r) => r.completions.map(() => r.prompt)),
    completions: rollouts.flatMap((r) => r.completions.map((c) => c.text)),
    completionIds: rollouts.flatMap((r) => r.completions.map((c) => c.tokenIds)),
    finishReasons: rollouts.flatMap((r) => r.completions.map((c) => c.finishReason)),
    rows: rollouts.flatMap((r) => r.completions.map(() => r.row)),
    ...(rollouts.some((r) => r.completions.some((c) => c.turns)) ? { turns: rollouts.flatMap((r) => r.completions.map((c) => c.turns)) } : {}),
  };
}

/**
 * Every reward function on the same input, concurrently, in this process: one validated result
 * per function. When one stops the step (`raise`), the others' calls in flight are stopped too.
 */
export async function runRewards(
  input: RewardInput,
  functions: readonly RewardFunction[],
  options: Omit<RewardRunOptions, 'weights'>,
): Promise<RewardResult[]> {
  const stage = new AbortController();
  const stopStage = () => stage.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', stopStage, { once: true });
  try {
    return await Promise.all(
      functions.map((fn) =>
        scoreWith(fn, input, { ...options, signal: stage.signal }).catch((error: unknown) => {
          stage.abort(error);
          throw error;
        }),
      ),
    );
  } finally {
    options.signal?.removeEventListener('abort', stopStage);
  }
}

/** A reward scorer other than the in-process one, and the step and round it scores for. */
export interface ScorerContext {
  scorer: RewardScorer;
  step: number;
  round: number;
}

/**
 * Scores every completion with every reward function concurrently (in this process, or with
 * `scorer` where it runs them), combines them
 * R = Σ w·r over applicable rewards, and reports per-reward metrics with TRL's names.
 */
export async function scoreRollouts(
  rollouts: readonly Rollout[],
  functions: readonly RewardFunction[],
  options: RewardRunOptions,
  /** Maps step rewards' character offsets to tokens; without it, character i is token i. */
  tokenizer?: Tokenizer,
  scorer?: ScorerContext,
): Promise<ScoredBatch> {
  if (functions.length === 0) throw new RewardError('No reward functions are configured: add a reward plugin (e.g. @grpo/plugin-math-reward) to the config.');
  const names = functions.map((f) => f.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new RewardError(`Two reward functions are both named '${dup}'; reward names must be unique.`);
  for (const name of Object.keys(options.weights))
    if (!names.includes(name)) throw new RewardError(`rewards.weights names '${name}', but no reward function has that name (have: ${names.join(', ')}).`);

  const results = scorer
    ? await scorer.scorer.score({ rollouts, functions, options, step: scorer.step, round: scorer.round })
    : await runRewards(rewardInput(rollouts), functions, options);
  const completions = rollouts.reduce((a, r) => a + r.completions.length, 0);
  if (results.length !== functions.length || results.some((r) => r.scores.length !== completions))
    throw new RewardError(
      `reward scorer '${scorer?.scorer.name}' returned ${results.length} results of ${results.map((r) => r.scores.length).join(', ')} scores for ${functions.length} reward functions and ${completions} completions`,
    );

  const metrics: Record<string, number> = {};
  functions.forEach((fn, k) => {
    const applicable = results[k]!.scores.map((s) => s.score).filter((s): s is number => s !== null);
    metrics[`rewards/${fn.name}/mean`] = mean(applicable);
    metrics[`rewards/${fn.name}/std`] = std(applicable);
    if (options.onError === 'penalty') metrics[`rewards/${fn.name}/errors`] = results[k]!.errors;
    const infoKeys = new Set(results[k]!.scores.flatMap((s) => Object.keys(s.info ?? {})));
    for (const key of infoKeys)
      metrics[`rewards/${fn.name}/${key}`] = mean(results[k]!.scores.map((s) => s.info?.[key]).filter((v): v is number => typeof v === 'number'));
  });

  let flat = 0;
  const groups: ScoredGroup[] = rollouts.map((rollout) => {
    const rewards: number[] = [];
    const unscored: boolean[] = [];
    const byFunction: Record<string, (number | null)[]> = Object.fromEntries(names.map((n) => [n, []]));
    const stepMaps: (Map<number, number> | undefined)[] = [];
    const scalar: boolean[] = [];
    rollout.completions.forEach((completion) => {
      let total = 0;
      let any = false;
      let steps: Map<number, number> | undefined;
      functions.forEach((fn, k) => {
        const s = results[k]!.scores[flat]!;
        const w = options.weights[fn.name] ?? 1;
        byFunction[fn.name]!.push(s.score);
        if (s.score !== null) {
          total += w * s.score;
          any = true;
        }
        if (s.steps?.length) {
          const ends = tokenizer ? tokenCharEnds(tokenizer, completion.tokenIds) : completion.tokenIds.map((_, t) => t + 1);
          steps ??= new Map();
          for (const step of s.steps) {
            const t = charToToken(ends, step.endChar);
            steps.set(t, (steps.get(t) ?? 0) + w * step.reward);
          }
        }
      });
      stepMaps.push(steps);
      scalar.push(any);
      rewards.push(any ? total : 0);
      // A completion with step rewards is scored even when no function gave it a scalar score.
      unscored.push(!any && !steps);
      flat++;
    });
    // Process supervision: when any completion of the group has step rewards, every completion
    // gets a step list, and its outcome (scalar) reward counts as a step at its last token.
    let stepRewards: TokenStepReward[][] | undefined;
    if (stepMaps.some(Boolean)) {
      stepRewards = rollout.completions.map((completion, g) => {
        const steps = new Map(stepMaps[g] ?? []);
        const last = Math.max(0, completion.tokenIds.length - 1);
        if (scalar[g]) steps.set(last, (steps.get(last) ?? 0) + rewards[g]!);
        return [...steps.entries()].sort((a, b) => a[0] - b[0]).map(([token, reward]) => ({ token, reward }));
      });
    }
    return { ...rollout, rewards, rewardsByFunction: byFunction, unscored, ...(stepRewards ? { stepRewards } : {}) };
  });

  const all = groups.flatMap((g) => g.rewards.filter((_, i) => !g.unscored[i]));
  metrics.reward = mean(all);
  metrics.reward_std = mean(groups.map((g) => std(g.rewards)));
  metrics.frac_reward_zero_std = mean(groups.map((g) => (std(g.rewards) < 1e-12 ? 1 : 0)));
  metrics['rewards/unscored_frac'] = mean(groups.flatMap((g) => g.unscored.map((u) => (u ? 1 : 0))));
  return { groups, metrics };
}
