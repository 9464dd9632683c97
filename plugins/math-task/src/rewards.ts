import type { AnswerExtractor, DatasetRow, RewardFunction, RewardInput, RewardScore, StepReward } from '@grpo/core';
import { applyOp } from './generate.js';
import type { Op } from './difficulty.js';

/** The final-answer marker (GSM8K). */
export const ANSWER_MARKER = '####';

// `####`, optional spaces/tabs, a number (optional sign, digits with optional thousands commas, optional
// decimals) not followed by a letter, digit or underscore.
const FINAL_ANSWER = /####[ \t]*(-?\d[\d,]*(?:\.\d+)?)(?!\w)/;

/**
 * The final answer of a completion: the number right after the FIRST `####` (spaces allowed in
 * between, thousands commas dropped), or `null` when there is no `####` or no number directly
 * after it (`#### 30abc` has none). Text after the number is ignored.
 */
export function extractFinalAnswer(text: string): string | null {
  if (typeof text !== 'string') return null;
  const at = text.indexOf(ANSWER_MARKER);
  if (at < 0) return null;
  const match = FINAL_ANSWER.exec(text.slice(at));
  if (!match || match.index !== 0) return null;
  return (match[1] as string).replace(/,/g, '');
}

/** Whether two decimal numbers (as text or numbers) are equal in value; non-numbers are never equal. */
export function sameNumber(a: unknown, b: unknown): boolean {
  const toNumber = (x: unknown): number =>
    typeof x === 'number' ? x : typeof x === 'string' && /^\s*-?\d[\d,]*(?:\.\d+)?\s*$/.test(x) ? Number(x.replace(/,/g, '')) : NaN;
  const x = toNumber(a);
  const y = toNumber(b);
  return Number.isFinite(x) && Number.isFinite(y) && x === y;
}

export interface TaskAccuracyOptions {
  /** Default `task_accuracy`. */
  readonly name?: string;
  /** Row field with the reference answer; default `answer`. */
  readonly answerField?: string;
}

/**
 * Outcome reward: 1 when the completion's `#### x` (see `extractFinalAnswer`) equals the row's
 * answer numerically (`30`, `30.0`, `030` all match `'30'`), else 0. A completion without `####`
 * scores 0. A row without a usable answer gives `null` (the reward does not apply).
 */
export function taskAccuracy(options: TaskAccuracyOptions = {}): RewardFunction {
  const field = options.answerField ?? 'answer';
  return {
    name: options.name ?? 'task_accuracy',
    score(input: RewardInput): RewardScore[] {
      return input.completions.map((completion, i) => {
        const reference = input.rows[i]?.[field];
        if (typeof reference !== 'string' && typeof reference !== 'number') return null;
        if (!sameNumber(reference, reference)) return null;
        const answer = extractFinalAnswer(completion);
        return answer !== null && sameNumber(answer, reference) ? 1 : 0;
      });
    },
  };
}

/** One parsed solution line `a op b = c`. */
export interface ParsedStep {
  a: number;
  op: Op;
  b: number;
  c: number;
}

const STEP_LINE = /^\s*(-?\d+)\s*([+\-*])\s*(-?\d+)\s*=\s*(-?\d+)\s*$/;

/** Parses a solution line `a op b = c` (integers; `+`, `-` or `*`; spaces allowed), or `null`. */
export function parseStep(line: string): ParsedStep | null {
  const m = STEP_LINE.exec(line);
  if (!m) return null;
  const [a, b, c] = [m[1], m[3], m[4]].map(Number) as [number, number, number];
  if (![a, b, c].every(Number.isSafeInteger)) return null;
  return { a, op: m[2] as Op, b, c };
}

/**
 * The numbers a question gives: its digit runs, plus 2 for "double"/"twice" and 3 for
 * "triple" (the task's words for `*2` and `*3`).
 */
export function questionNumbers(question: string): number[] {
  const numbers = (question.match(/\d+/g) ?? []).map(Number);
  if (/\b(double|doubles|doubled|twice)\b/.test(question)) numbers.push(2);
  if (/\b(triple|triples|tripled)\b/.test(question)) numbers.push(3);
  return numbers;
}

/** The numbers a row's question gives: `row.numbers` when it is a list of numbers, else parsed from `question` (or `prompt`). */
function givenNumbers(row: DatasetRow | undefined): number[] {
  if (!row) return [];
  const listed = row['numbers'];
  if (Array.isArray(listed) && listed.every((x) => typeof x === 'number')) return listed as number[];
  const question = typeof row['question'] === 'string' ? row['question'] : row.prompt;
  return typeof question === 'string' ? questionNumbers(question) : [];
}

export interface StepCorrectnessOptions {
  /** Default `step_correctness`. */
  readonly name?: string;
  /** Reward of a correct step; default 1. */
  readonly correctReward?: number;
  /** Reward of a wrong step; default 0 (a negative value penalises it). */
  readonly wrongReward?: number;
}

/** One solution line of a completion and whether it is a correct step (see `stepCorrectness`). */
export interface StepVerdict {
  /** Offset just past the line's last character. */
  endChar: number;
  line: string;
  correct: boolean;
}

/** Judges each solution line of `completion` against the numbers the question gives (rules at `stepCorrectness`). */
export function judgeSteps(completion: string, given: readonly number[]): StepVerdict[] {
  if (typeof completion !== 'string') return [];
  const known = new Set(given);
  const verdicts: StepVerdict[] = [];
  let start = 0;
  while (true) {
    const newline = completion.indexOf('\n', start);
    const end = newline < 0 ? completion.length : newline;
    const line = completion.slice(start, end);
    if (line.includes(ANSWER_MARKER)) break;
    if (line.trim() !== '') {
      const step = parseStep(line);
      const correct = step !== null && applyOp(step.a, step.op, step.b) === step.c && known.has(step.a) && known.has(step.b);
      if (correct) known.add((step as ParsedStep).c);
      verdicts.push({ endChar: end, line, correct });
    }
    if (newline < 0) break;
    start = newline + 1;
  }
  return verdicts;
}

/**
 * Process reward. The completion is read line by line up to the first line containing `####`
 * (that line and everything after it get no entry; `task_accuracy` judges the answer). Blank
 * lines get no entry. Every other line gets one entry `{ endChar, reward }`, where `endChar` is
 * the offset just past the line's last character (the position of its `\n`, or the text's
 * length), and `reward` is `correctReward` (1) when
 *   1. the line is exactly `a op b = c` with integers and `op` one of `+ - *` (spaces allowed),
 *   2. `a op b` equals `c`, and
 *   3. `a` and `b` are each a number the question gives (`row.numbers`, else the digits of the
 *      question plus 2 for "doubles" and 3 for "triples") or the result of an earlier CORRECT line
 *      (a wrong result is not a fact, so steps built on it get no credit),
 * else `wrongReward` (0). A correct but irrelevant line such as `2+2=4` fails rule 3. The overall
 * score is `null`: this function contributes step rewards only. `info` logs the step count and the
 * share of correct steps.
 */
export function stepCorrectness(options: StepCorrectnessOptions = {}): RewardFunction {
  const good = options.correctReward ?? 1;
  const bad = options.wrongReward ?? 0;
  for (const [key, value] of [
    ['correctReward', good],
    ['wrongReward', bad],
  ] as const) {
    if (!Number.isFinite(value)) throw new RangeError(`stepCorrectness: ${key} must be a finite number, got ${value}`);
  }
  return {
    name: options.name ?? 'step_correctness',
    score(input: RewardInput): RewardScore[] {
      return input.completions.map((completion, i) => {
        const verdicts = judgeSteps(completion, givenNumbers(input.rows[i]));
        const steps: StepReward[] = verdicts.map((v) => ({ endChar: v.endChar, reward: v.correct ? good : bad }));
        const correct = verdicts.filter((v) => v.correct).length;
        return { score: null, steps, info: { step_count: steps.length, step_correct_frac: steps.length ? correct / steps.length : 0 } };
      });
    },
  };
}

/** The answer after `####`, normalised to a number string so `#### 07` and `#### 7` vote together (maj@k). */
export const finalAnswerExtractor: AnswerExtractor = {
  name: 'math-task-final-answer',
  extract: (completion) => {
    const answer = extractFinalAnswer(completion);
    return answer === null ? null : String(Number(answer));
  },
};
