/**
 * RewardTester: runs a table of cases through a reward function, like ESLint's RuleTester. Each
 * case is scored alone through the trainer's own scoring path (`scoreRollouts`: the same
 * validation of scores, step offsets and timeouts), so a case that throws or returns something
 * the trainer would refuse fails alone, with the trainer's message.
 */
import type { RewardFunction } from '../contracts/reward.js';
import type { DatasetRow, FinishReason } from '../records.js';
import { scoreRollouts } from '../pipeline/score.js';

export interface RewardTestCase {
  /** Label shown in the report (default: the case index). */
  readonly name?: string;
  readonly prompt?: string;
  readonly completion: string;
  /** Dataset fields of the prompt (e.g. `{ answer: '42' }`). */
  readonly row?: Readonly<Record<string, unknown>>;
  readonly completionIds?: readonly number[];
  readonly finishReason?: FinishReason;
  /** The expected score; null means "not applicable". */
  readonly expected: number | null;
  /** Absolute tolerance for this case (default: the tester's). */
  readonly tolerance?: number;
}

export interface RewardTestResult {
  readonly index: number;
  readonly name: string;
  readonly expected: number | null;
  readonly actual: number | null;
  readonly pass: boolean;
  readonly error?: string;
}

export interface RewardTestReport {
  readonly reward: string;
  readonly total: number;
  readonly passed: number;
  readonly failed: number;
  readonly results: readonly RewardTestResult[];
  /** One line per failure plus a count, for printing. */
  readonly summary: string;
}

export class RewardAssertionError extends Error {
  constructor(readonly report: RewardTestReport) {
    super(report.summary);
    this.name = 'RewardAssertionError';
  }
}

export interface RewardTesterOptions {
  /** Absolute tolerance of a score (default 1e-9). */
  tolerance?: number;
  /** Per-case timeout, as `rewards.timeoutMs` (default 30 s). */
  timeoutMs?: number;
}

export class RewardTester {
  constructor(
    private readonly reward: RewardFunction,
    private readonly options: RewardTesterOptions = {},
  ) {}

  /** Scores every case and reports. */
  async run(cases: readonly RewardTestCase[]): Promise<RewardTestReport> {
    const results: RewardTestResult[] = [];
    for (const [index, c] of cases.entries()) {
      const name = c.name ?? `case ${index}`;
      const prompt = c.prompt ?? '';
      const row: DatasetRow = { ...(c.row ?? {}), prompt };
      const completion = { text: c.completion, tokenIds: [...(c.completionIds ?? [])], logprobs: [], finishReason: c.finishReason ?? 'eos' };
      try {
        const scored = await scoreRollouts([{ row, prompt, promptIds: [], completions: [completion] }], [this.reward], {
          weights: {},
          timeoutMs: this.options.timeoutMs ?? 30_000,
          onError: 'raise',
          penalty: 0,
        });
        const actual = scored.groups[0]!.rewardsByFunction[this.reward.name]![0] ?? null;
        const tol = c.tolerance ?? this.options.tolerance ?? 1e-9;
        const pass = actual === null || c.expected === null ? actual === c.expected : Math.abs(actual - c.expected) <= tol;
        results.push({ index, name, expected: c.expected, actual, pass });
      } catch (e) {
        results.push({ index, name, expected: c.expected, actual: null, pass: false, error: (e as Error).message });
      }
    }
    const failed = results.filter((r) => !r.pass);
    const lines = failed.map((r) => `  ✗ ${r.name}: expected ${String(r.expected)}, got ${r.error ? `error: ${r.error}` : String(r.actual)}`);
    const summary = `${this.reward.name}: ${results.length - failed.length}/${results.length} cases pass` + (lines.length ? `\n${lines.join('\n')}` : '');
    return { reward: this.reward.name, total: results.length, passed: results.length - failed.length, failed: failed.length, results, summary };
  }

  /** Runs the cases and throws a RewardAssertionError listing every failure. */
  async assert(cases: readonly RewardTestCase[]): Promise<RewardTestReport> {
    const report = await this.run(cases);
    if (report.failed > 0) throw new RewardAssertionError(report);
    return report;
  }
}
