/**
 * Evaluation, one path for every caller (the loop's `evalEvery`, `grpo train`'s before/after,
 * `grpo eval`): greedy completions on held-out rows scored by every reward (`eval/reward`,
 * `eval/rewards/<fn>/mean`), and, with an accuracy reward, greedy accuracy plus pass@k and maj@k
 * over k sampled completions.
 */
import type { Policy, SamplingOptions } from '../contracts/policy.js';
import type { AnswerExtractor, RewardFunction } from '../contracts/reward.js';
import { GrpoError } from '../errors.js';
import type { Completion, DatasetRow, Rollout } from '../records.js';
import { mean } from '../util/stats.js';
import { chunks } from './batch.js';
import { scoreRollouts, type RewardRunOptions } from './score.js';

export interface AccuracyReport {
  /** Prompts evaluated. */
  n: number;
  /** Share of prompts whose greedy completion is correct. */
  greedy: number;
  /** Samples per prompt for pass@k and maj@k (0 when skipped). */
  k: number;
  /** Share of prompts with at least one correct sample among k. */
  passAtK: number;
  /** Share of prompts whose most frequent extracted answer among k samples is correct. */
  majAtK: number;
  /** Mean greedy completion length in tokens. */
  greedyLength: number;
}

export interface EvaluateOptions {
  policy: Pick<Policy, 'generate' | 'tokenizer'>;
  /**
   * Samples `groupSize` completions per prompt (`prompts[i]` rendered from `rows[i]`); default
   * `policy.generate`. Multi-turn runs pass one that samples whole trajectories with the environment.
   */
  generate?: (rows: readonly DatasetRow[], prompts: readonly string[], groupSize: number, sampling: SamplingOptions) => Promise<Completion[][]>;
  rows: readonly DatasetRow[];
  render: (row: DatasetRow) => string;
  /** Every reward of the run: each scores the greedy completions (default: the accuracy reward alone). */
  rewards?: readonly RewardFunction[];
  /** How rewards run (default: unweighted, 60 s timeout, errors raise). */
  rewardOptions?: RewardRunOptions;
  /** A reward where a score ≥ 0.5 means correct; without one there is no accuracy report. */
  accuracy?: RewardFunction;
  /** Groups samples by final answer for maj@k; without it maj@k groups by the whole completion text. */
  extractor?: AnswerExtractor;
  /** Samples per prompt for pass@k and maj@k; 0 skips them. */
  k: number;
  temperature: number;
  maxNewTokens: number;
  stop?: readonly string[];
  /** First sampling seed; each generate call takes the next. */
  seed: number;
  /** Prompts per generate call (default 64). */
  batchSize?: number;
  /** Called after each batch with the prompts done so far. */
  onProgress?: (done: number, total: number) => void;
}

export interface Evaluation {
  /** `eval/reward` and `eval/rewards/<fn>/mean` of the greedy completions (plus `eval/accuracy` etc. with an accuracy report). */
  metrics: Record<string, number>;
  accuracy?: AccuracyReport;
}

/** Picks the reward that judges correctness: the named one, else the first named like `*accuracy*`. */
export function accuracyReward(rewards: readonly RewardFunction[], name?: string): RewardFunction {
  const found = findAccuracyReward(rewards, name);
  if (!found)
    throw new GrpoError(
      name
        ? `eval.accuracyReward names '${name}', but no reward function has that name (have: ${rewards.map((r) => r.name).join(', ') || 'none'})`
        : `no reward function is named like '*accuracy*' to judge correctness; set eval.accuracyReward (have: ${rewards.map((r) => r.name).join(', ') || 'none'})`,
    );
  return found;
}

/** The accuracy reward when there is one (see `accuracyReward`). */
export function findAccuracyReward(rewards: readonly RewardFunction[], name?: string): RewardFunction | undefined {
  return name ? rewards.find((r) => r.name === name) : rewards.find((r) => /accuracy/i.test(r.name));
}

/**
 * pass@k: any sample is correct. maj@k: the answer given most often (completions without an
 * answer do not vote; ties go to the answer seen first) belongs to a correct sample.
 */
export function passAndMajority(correct: readonly boolean[], answers: readonly (string | null)[]): { pass: boolean; majority: boolean } {
  const votes = new Map<string, { count: number; first: number }>();
  answers.forEach((answer, j) => {
    if (answer === null) return;
    const v = votes.get(answer);
    if (v) v.count++;
    else votes.set(answer, { count: 1, first: j });
  });
  let best: { count: number; first: number } | undefined;
  for (const v of votes.values()) if (!best || v.count > best.count) best = v;
  return { pass: correct.some(Boolean), majority: best !== undefined && correct[best.first] === true };
}

const rollouts = (rows: readonly DatasetRow[], prompts: readonly string[], completions: Completion[][]): Rollout[] =>
  rows.map((row, i) => ({ row, prompt: prompts[i]!, promptIds: [], completions: completions[i]! }));

/** The accuracy judge's verdict per completion: a score ≥ 0.5. */
const verdicts = (scores: readonly (number | null)[] | undefined) => (scores ?? []).map((s) => s !== null && s >= 0.5);

const DEFAULT_RUN: RewardRunOptions = { weights: {}, timeoutMs: 60_000, onError: 'raise', penalty: 0 };

export async function evaluate(options: EvaluateOptions): Promise<Evaluation> {
  const { policy, rows, k, accuracy } = options;
  const rewards = options.rewards ?? (accuracy ? [accuracy] : []);
  const rewardOptions = options.rewardOptions ?? DEFAULT_RUN;
  const batchSize = options.batchSize ?? 64;
  const scores: Record<string, number[]> = {};
  const combined: number[] = [];
  let greedy = 0;
  let pass = 0;
  let maj = 0;
  let length = 0;
  let seed = options.seed;
  let done = 0;
  const generate = options.generate ?? ((_rows, prompts, groupSize, sampling) => policy.generate(prompts, groupSize, sampling));
  for (const batch of chunks(rows, batchSize)) {
    const prompts = batch.map(options.render);
    const g = await generate(batch, prompts, 1, { maxNewTokens: options.maxNewTokens, temperature: 0, stop: options.stop, seed: seed++ });
    const scored = await scoreRollouts(rollouts(batch, prompts, g), rewards, rewardOptions, policy.tokenizer);
    for (const group of scored.groups) {
      combined.push(group.rewards[0] ?? 0);
      for (const [name, values] of Object.entries(group.rewardsByFunction))
        if (values[0] !== null && values[0] !== undefined) (scores[name] ??= []).push(values[0]);
      if (accuracy && verdicts(group.rewardsByFunction[accuracy.name])[0]) greedy++;
    }
    length += g.reduce((a, c) => a + c[0]!.tokenIds.length, 0);
    if (accuracy && k > 0) {
      const samples = await generate(batch, prompts, k, {
        maxNewTokens: options.maxNewTokens,
        temperature: options.temperature,
        stop: options.stop,
        seed: seed++,
      });
      const judged = await scoreRollouts(rollouts(batch, prompts, samples), [accuracy], { ...DEFAULT_RUN, timeoutMs: rewardOptions.timeoutMs });
      judged.groups.forEach((group, i) => {
        const answers = samples[i]!.map((c) => (options.extractor ? options.extractor.extract(c.text, batch[i]!) : c.text.trim()));
        const r = passAndMajority(verdicts(group.rewardsByFunction[accuracy.name]), answers);
        pass += r.pass ? 1 : 0;
        maj += r.majority ? 1 : 0;
      });
    }
    done += batch.length;
    options.onProgress?.(done, rows.length);
  }
  const metrics: Record<string, number> = { 'eval/reward': mean(combined) };
  for (const [name, values] of Object.entries(scores)) metrics[`eval/rewards/${name}/mean`] = mean(values);
  if (!accuracy) return { metrics };
  const n = rows.length;
  const report: AccuracyReport = { n, greedy: greedy / n, k, passAtK: k > 0 ? pass / n : 0, majAtK: k > 0 ? maj / n : 0, greedyLength: length / n };
  metrics['eval/accuracy'] = report.greedy;
  if (k > 0) {
    metrics[`eval/maj@${k}`] = report.majAtK;
    metrics[`eval/pass@${k}`] = report.passAtK;
  }
  return { metrics, accuracy: report };
}
