import type { Policy } from '../contracts/policy.js';
import type { AnswerExtractor, RewardFunction } from '../contracts/reward.js';
import { GrpoError } from '../errors.js';
import type { Completion, DatasetRow } from '../records.js';
import { chunks } from './batch.js';
import { scoreRollouts } from './rewards.js';

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

export interface EvaluateAccuracyOptions {
  policy: Policy;
  rows: readonly DatasetRow[];
  prompt: (row: DatasetRow) => string;
  /** A reward where a score ≥ 0.5 means correct (e.g. a 0/1 accuracy reward). */
  accuracy: RewardFunction;
  /** Groups samples by final answer for maj@k; without it maj@k groups by the whole completion text. */
  extractor?: AnswerExtractor;
  k: number;
  temperature: number;
  maxNewTokens: number;
  stop?: readonly string[];
  seed: number;
  /** Prompts per generate call. */
  batchSize?: number;
}

/** Picks the reward that judges correctness: the named one, else the first named like `*accuracy*`. */
export function accuracyReward(rewards: readonly RewardFunction[], name?: string): RewardFunction {
  const found = name ? rewards.find((r) => r.name === name) : rewards.find((r) => /accuracy/i.test(r.name));
  if (!found)
    throw new GrpoError(
      name
        ? `eval.accuracyReward names '${name}', but no reward function has that name (have: ${rewards.map((r) => r.name).join(', ') || 'none'})`
        : `no reward function is named like '*accuracy*' to judge correctness; set eval.accuracyReward (have: ${rewards.map((r) => r.name).join(', ') || 'none'})`,
    );
  return found;
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

/** Greedy accuracy, pass@k and maj@k of a policy on a set of rows. */
export async function evaluateAccuracy(options: EvaluateAccuracyOptions): Promise<AccuracyReport> {
  const { policy, rows, k } = options;
  const batchSize = options.batchSize ?? 64;
  const correct = async (batch: readonly DatasetRow[], prompts: string[], completions: Completion[][]) => {
    const rollouts = batch.map((row, i) => ({ row, promptIds: [], completions: completions[i]! }));
    const scored = await scoreRollouts(rollouts, prompts, [options.accuracy], { weights: {}, timeoutMs: 60_000, onError: 'raise', penalty: 0 });
    return scored.groups.map((g) => g.rewardsByFunction[options.accuracy.name]!.map((s) => s !== null && s >= 0.5));
  };
  let greedy = 0;
  let pass = 0;
  let maj = 0;
  let length = 0;
  let seed = options.seed;
  for (const batch of chunks(rows, batchSize)) {
    const prompts = batch.map(options.prompt);
    const g = await policy.generate(prompts, 1, { maxNewTokens: options.maxNewTokens, temperature: 0, stop: options.stop, seed: seed++ });
    (await correct(batch, prompts, g)).forEach((ok) => (greedy += ok[0] ? 1 : 0));
    length += g.reduce((a, c) => a + c[0]!.tokenIds.length, 0);
    if (k <= 0) continue;
    const samples = await policy.generate(prompts, k, { maxNewTokens: options.maxNewTokens, temperature: options.temperature, stop: options.stop, seed: seed++ });
    const verdicts = await correct(batch, prompts, samples);
    verdicts.forEach((ok, i) => {
      const answers = samples[i]!.map((c) => (options.extractor ? options.extractor.extract(c.text, batch[i]!) : c.text.trim()));
      const r = passAndMajority(ok, answers);
      pass += r.pass ? 1 : 0;
      maj += r.majority ? 1 : 0;
    });
  }
  const n = rows.length;
  return { n, greedy: greedy / n, k, passAtK: k > 0 ? pass / n : 0, majAtK: k > 0 ? maj / n : 0, greedyLength: length / n };
}
