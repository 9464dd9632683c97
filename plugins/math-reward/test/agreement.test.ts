import { describe, expect, it } from 'vitest';
import { verifyMath } from '../src/index.js';
import { readJson, type AnswerCase } from './data.js';

const cases = readJson<AnswerCase[]>('math-answers', 'cases.json');
const contested = readJson<AnswerCase[]>('math-answers', 'contested.json');

/** Cases of cases.json that still disagree, each with its reason (see README "Known disagreements"). */
const KNOWN_DISAGREEMENTS: Record<number, string> = {
  166: 'z ∈ [-3/2,-1] ∪ [1,3/2] vs 1 ≤ |z| ≤ 3/2: needs solving an inequality in |z|',
};

describe('agreement with cases.json', () => {
  it('agrees with at least 380 of the 396 verdicts, and disagrees only where documented', () => {
    const disagreements: number[] = [];
    cases.forEach((c, i) => {
      if (verifyMath(c.completion, c.reference).equal !== c.equal) disagreements.push(i);
    });
    const agree = cases.length - disagreements.length;
    console.log(`math-reward agreement with cases.json: ${agree}/${cases.length}; disagreements: ${disagreements.join(', ') || 'none'}`);
    expect(cases).toHaveLength(396);
    expect(agree).toBeGreaterThanOrEqual(380);
    expect(disagreements.filter((i) => !(i in KNOWN_DISAGREEMENTS))).toEqual([]);
  });
});

/**
 * contested.json: our verdict for each case follows a documented policy (README, "Contested cases").
 * The file's `equal` is one grader's opinion; these are ours, kind by kind.
 */
const POLICY: { kind: string; cases: number[]; equal: boolean }[] = [
  { kind: 'math delimiters spanning newlines are still math (extracted)', cases: [0, 1], equal: true },
  { kind: 'double-escaped LaTeX (\\\\frac) is collapsed to single escapes', cases: [2, 11, 12, 13, 16, 18, 19, 20, 26], equal: true },
  { kind: 'double-escaped reference with an unclosed \\boxed{ is unreadable', cases: [21], equal: false },
  { kind: 'equation chains: first left side, last right side; \\approx tails dropped', cases: [3, 5, 6, 8], equal: true },
  { kind: 'a reference relation whose left side is not a label stays a relation', cases: [4, 7], equal: false },
  { kind: 'decimals must match to 6 significant digits (0.33 ≠ 1/3)', cases: [9, 10], equal: false },
  { kind: 'bare braces {1,3} are an unordered list; against a tuple, order counts', cases: [14], equal: false },
  { kind: 'bare braces {1,3} against the tuple (1,3)', cases: [15], equal: true },
  { kind: 'an inequality equals the interval it describes', cases: [17], equal: true },
  { kind: 'boxes separated by a short connector are joined', cases: [22], equal: true },
  { kind: 'f(x) and f(y) differ (strict symbols)', cases: [23], equal: false },
  { kind: 'mathematics over quirks: 1 + 1/e ≠ 1 − 1/e', cases: [24], equal: false },
  { kind: 'comma lists are unordered (sets)', cases: [25, 27], equal: true },
  { kind: 'percent is decoration by default: 10% = 10', cases: [28, 32, 33], equal: true },
  { kind: 'an unclosed <think> or an answer only inside <think>…</think> earns nothing', cases: [29, 31], equal: false },
  { kind: 'no think tags at all: the whole completion is the answer text', cases: [30], equal: true },
  { kind: 'no multiple-choice letter extraction from "C. x = 42"', cases: [34], equal: false },
];

describe('contested.json policies', () => {
  it('covers every contested case exactly once', () => {
    const all = POLICY.flatMap((p) => p.cases).sort((a, b) => a - b);
    expect(all).toEqual(contested.map((_, i) => i));
  });
  for (const policy of POLICY) {
    it(`${policy.kind} → ${policy.equal ? 'equal' : 'not equal'}`, () => {
      for (const i of policy.cases) {
        const c = contested[i]!;
        expect({ i, equal: verifyMath(c.completion, c.reference).equal }).toEqual({ i, equal: policy.equal });
      }
    });
  }
  it('options switch the policies: percent as a fraction, strict think, rounding tolerance', () => {
    const c28 = contested[28]!;
    expect(verifyMath(c28.completion, c28.reference, { percent: 'fraction' }).equal).toBe(false);
    expect(verifyMath('0.1', c28.reference, { percent: 'fraction' }).equal).toBe(true);
    expect(verifyMath('0.1', c28.reference, { percent: 'either' }).equal).toBe(true);
    expect(verifyMath('10', c28.reference, { percent: 'either' }).equal).toBe(true);
    const c30 = contested[30]!;
    expect(verifyMath(c30.completion, c30.reference, { extraction: { missingThink: 'reject' } }).equal).toBe(false);
    expect(verifyMath('$0.33$', '$\\frac{1}{3}$', { decimalTolerance: 0.02 }).equal).toBe(true);
  });
});
