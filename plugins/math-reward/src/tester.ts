/** RewardTester: runs a table of cases through a reward function (like ESLint's RuleTester). */
import type { DatasetRow, FinishReason, RewardFunction, RewardScore } from '@grpo/core';

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

function scoreValue(s: RewardScore | undefined): number | null {
  if (s === undefined || s === null) return null;
  return typeof s === 'number' ? s : s.score;
}

export class RewardTester {
  constructor(
    private readonly reward: RewardFunction,
    private readonly options: { tolerance?: number } = {},
  ) {}

  /** Scores every case (one call per case, so a throwing case fails alone) and reports. */
  async run(cases: readonly RewardTestCase[]): Promise<RewardTestReport> {
    const results: RewardTestResult[] = [];
    for (const [index, c] of cases.entries()) {
      const name = c.name ?? `case ${index}`;
      const prompt = c.prompt ?? '';
      const row: DatasetRow = { ...(c.row ?? {}), prompt };
      try {
        const scores = await this.reward.score({
          prompts: [prompt],
          completions: [c.completion],
          completionIds: [c.completionIds ?? []],
          finishReasons: [c.finishReason ?? 'eos'],
          rows: [row],
        });
        const actual = scoreValue(scores[0]);
        const tol = c.tolerance ?? this.options.tolerance ?? 1e-9;
        const pass =
          actual === null || c.expected === null ? actual === c.expected : Math.abs(actual - c.expected) <= tol;
        results.push({ index, name, expected: c.expected, actual, pass });
      } catch (e) {
        results.push({ index, name, expected: c.expected, actual: null, pass: false, error: (e as Error).message });
      }
    }
    const failed = results.filter((r) => !r.pass);
    const lines = failed.map(
      (r) => `  ✗ ${r.name}: expected ${String(r.expected)}, got ${r.error ? `error: ${r.error}` : String(r.actual)}`,
    );
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
