/**
 * EstimatorTester: runs table cases through an advantage estimator and checks what the trainer
 * relies on (one row per completion, one finite value per token) and the expected advantages.
 */
import type { AdvantageEstimator, AdvantageOptions } from '../contracts/algorithm.js';
import type { AdvantageBatch, ScoredGroup } from '../records.js';

/** One group of a case: a reward per completion, and optionally token counts and unscored flags. */
export interface EstimatorTestGroup {
  readonly rewards: readonly number[];
  /** Tokens per completion (default 1 each). */
  readonly lengths?: readonly number[];
  readonly unscored?: readonly boolean[];
}

export interface EstimatorTestCase {
  readonly name?: string;
  readonly groups: readonly EstimatorTestGroup[];
  /**
   * Expected advantages, per completion in group order: a number (the same on every token) or a
   * per-token list.
   */
  readonly expected: readonly (number | readonly number[])[];
  readonly options?: Partial<AdvantageOptions>;
  readonly tolerance?: number;
}

export class EstimatorAssertionError extends Error {
  constructor(readonly failures: readonly string[]) {
    super(failures.join('\n'));
    this.name = 'EstimatorAssertionError';
  }
}

/** TRL's defaults, as `algorithm.advantage` has them. */
const DEFAULT_OPTIONS: AdvantageOptions = { std: 'unbiased', eps: 1e-4, zeroVarianceToZero: true, singleton: 'zero' };

/** Scored groups with `lengths[i]` tokens per completion (token ids 0, 1, …). */
export function scoredGroups(groups: readonly EstimatorTestGroup[]): ScoredGroup[] {
  return groups.map((g, gi) => ({
    row: { prompt: `case group ${gi}` },
    prompt: `case group ${gi}`,
    promptIds: [0],
    completions: g.rewards.map((_, i) => {
      const n = g.lengths?.[i] ?? 1;
      return { text: 'x'.repeat(n), tokenIds: Array.from({ length: n }, (_, t) => t), logprobs: new Array<number>(n).fill(0), finishReason: 'eos' as const };
    }),
    rewards: [...g.rewards],
    rewardsByFunction: { reward: [...g.rewards] },
    unscored: g.rewards.map((_, i) => g.unscored?.[i] === true),
  }));
}

export class EstimatorTester {
  constructor(
    private readonly estimator: AdvantageEstimator,
    private readonly options: { tolerance?: number } = {},
  ) {}

  /** The estimator's output for a case (for cases a table cannot express). */
  estimate(testCase: Pick<EstimatorTestCase, 'groups' | 'options'>): AdvantageBatch {
    return this.estimator.estimate({ groups: scoredGroups(testCase.groups), options: { ...DEFAULT_OPTIONS, ...testCase.options } });
  }

  /** Runs every case; throws an EstimatorAssertionError listing every mismatch. */
  assert(cases: readonly EstimatorTestCase[]): void {
    const failures: string[] = [];
    cases.forEach((c, index) => {
      const name = c.name ?? `case ${index}`;
      const tol = c.tolerance ?? this.options.tolerance ?? 1e-9;
      let out: AdvantageBatch;
      try {
        out = this.estimate(c);
      } catch (e) {
        failures.push(`✗ ${name}: threw ${(e as Error).message}`);
        return;
      }
      const lengths = c.groups.flatMap((g) => g.rewards.map((_, i) => g.lengths?.[i] ?? 1));
      if (out.advantages.length !== lengths.length) {
        failures.push(`✗ ${name}: ${out.advantages.length} rows of advantages for ${lengths.length} completions`);
        return;
      }
      lengths.forEach((n, i) => {
        const row = out.advantages[i]!;
        if (row.length !== n) return void failures.push(`✗ ${name}: completion ${i} has ${n} tokens but ${row.length} advantages`);
        if (row.some((v) => !Number.isFinite(v))) return void failures.push(`✗ ${name}: completion ${i} has a non-finite advantage (${row.join(', ')})`);
        const want = c.expected[i];
        if (want === undefined) return void failures.push(`✗ ${name}: no expected value for completion ${i}`);
        const expected = typeof want === 'number' ? row.map(() => want) : want;
        const off = row.findIndex((v, t) => !(Math.abs(v - (expected[t] ?? Number.NaN)) <= tol));
        if (off >= 0) failures.push(`✗ ${name}: completion ${i} token ${off}: expected ${String(expected[off])}, got ${row[off]}`);
      });
    });
    if (failures.length) throw new EstimatorAssertionError(failures);
  }
}
