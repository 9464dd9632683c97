/**
 * Rule-based reward functions (each implements `RewardFunction` from @grpo/core):
 * accuracy, format, tag count, reasoning steps, cosine-scaled and Kimi-1.5 length rewards,
 * the DAPO overlong penalty and an n-gram repetition penalty.
 */
import { RewardError, type DatasetRow, type RewardFunction, type RewardInput, type RewardScore } from '@grpo/core';
import { verifyMath, type VerifyOptions } from './verify.js';

function check(cond: boolean, message: string): void {
  if (!cond) throw new RewardError(message);
}
function finite(name: string, value: number): void {
  check(Number.isFinite(value), `${name} must be a finite number, got ${String(value)}.`);
}

/** The reference answer of row `i`, or a RewardError naming the missing field. */
function referenceOf(input: RewardInput, i: number, field: string, reward: string): string {
  const row = input.rows[i] as DatasetRow | undefined;
  const value = row?.[field];
  if (value === undefined || value === null) {
    throw new RewardError(
      `Reward '${reward}': dataset row ${i} has no '${field}' field (the reference answer). ` +
        `Set the reward's referenceField option to the column that holds it.`,
    );
  }
  if (typeof value !== 'string' && typeof value !== 'number') {
    throw new RewardError(`Reward '${reward}': field '${field}' of row ${i} must be a string or number, got ${typeof value}.`);
  }
  return String(value);
}

export interface AccuracyOptions {
  /** Reward name (default `accuracy`). */
  readonly name?: string;
  /** Dataset field holding the reference answer (default `answer`). */
  readonly referenceField?: string;
  /** Score of a correct answer (default 1). */
  readonly correct?: number;
  /** Score of a wrong answer (default 0). */
  readonly incorrect?: number;
  /** Score when no answer can be extracted (default: `incorrect`). */
  readonly noAnswer?: number;
  /** Options of verifyMath (extraction order, think policy, percent policy, timeout). */
  readonly verify?: VerifyOptions;
}

/** 1 (or `correct`) when the completion's final answer equals the reference, else 0 (or `incorrect`). */
export function accuracyReward(options: AccuracyOptions = {}): RewardFunction {
  const name = options.name ?? 'accuracy';
  const field = options.referenceField ?? 'answer';
  const correct = options.correct ?? 1;
  const incorrect = options.incorrect ?? 0;
  const noAnswer = options.noAnswer ?? incorrect;
  finite('accuracy.correct', correct);
  finite('accuracy.incorrect', incorrect);
  finite('accuracy.noAnswer', noAnswer);
  return {
    name,
    score(input: RewardInput): RewardScore[] {
      return input.completions.map((completion, i) => {
        const res = verifyMath(completion, referenceOf(input, i, field, name), options.verify);
        if (res.equal) return correct;
        return res.extracted === null ? noAnswer : incorrect;
      });
    },
  };
}

export type FormatStyle = 'think-answer' | 'think';

export interface FormatOptions {
  readonly name?: string;
  /**
   * `think-answer` (default, open-r1): `<think>\n…\n</think>\n<answer>\n…\n</answer>` from the start;
   * `think` (TRL think_format_reward): starts with one `<think>…</think>` block and no second `<think>`.
   */
  readonly style?: FormatStyle;
  /** Score of a well-formed completion (default 1); malformed ones score 0. */
  readonly value?: number;
}

const THINK_ANSWER = /^<think>\n[\s\S]*?\n<\/think>\n<answer>\n[\s\S]*?\n<\/answer>(?=\n|$)/;
const THINK_ONLY = /^<think>(?![\s\S]*<think>)[\s\S]*?<\/think>/;

export function formatReward(options: FormatOptions = {}): RewardFunction {
  const style = options.style ?? 'think-answer';
  check(style === 'think-answer' || style === 'think', `format.style must be 'think-answer' or 'think', got '${String(style)}'.`);
  const value = options.value ?? 1;
  finite('format.value', value);
  const re = style === 'think' ? THINK_ONLY : THINK_ANSWER;
  return {
    name: options.name ?? 'format',
    score: (input) => input.completions.map((c) => (re.test(c) ? value : 0)),
  };
}

export interface TagCountOptions {
  readonly name?: string;
}

/** 0.25 for each of `<think>\n`, `\n</think>\n`, `\n<answer>\n`, `\n</answer>` appearing exactly once (open-r1). */
export function tagCountReward(options: TagCountOptions = {}): RewardFunction {
  const count = (s: string, sub: string): number => s.split(sub).length - 1;
  return {
    name: options.name ?? 'tag_count',
    score: (input) =>
      input.completions.map(
        (c) =>
          (count(c, '<think>\n') === 1 ? 0.25 : 0) +
          (count(c, '\n</think>\n') === 1 ? 0.25 : 0) +
          (count(c, '\n<answer>\n') === 1 ? 0.25 : 0) +
          (count(c, '\n</answer>') === 1 ? 0.25 : 0),
      ),
  };
}

export interface ReasoningStepsOptions {
  readonly name?: string;
  /** Steps needed for the full reward (default 3). */
  readonly targetSteps?: number;
}

/** min(1, steps / targetSteps), counting "Step n:", a leading "1.", bullets, "First,", "Second,", "Next,", "Finally," (open-r1). */
export function reasoningStepsReward(options: ReasoningStepsOptions = {}): RewardFunction {
  const target = options.targetSteps ?? 3;
  check(Number.isInteger(target) && target >= 1, `reasoningSteps.targetSteps must be an integer ≥ 1, got ${String(target)}.`);
  const re = /Step \d+:|^\d+\.|\n-|\n\*|First,|Second,|Next,|Finally,/g;
  return {
    name: options.name ?? 'reasoning_steps',
    score: (input) => input.completions.map((c) => Math.min(1, (c.match(re) ?? []).length / target)),
  };
}

export type LengthUnit = 'tokens' | 'chars';

function lengthOf(input: RewardInput, i: number, unit: LengthUnit): number {
  if (unit === 'chars') return input.completions[i]!.length;
  const ids = input.completionIds[i];
  return ids ? ids.length : input.completions[i]!.length;
}

export interface CosineLengthOptions {
  readonly name?: string;
  readonly referenceField?: string;
  /** Length at which the cosine reaches its end value (default 1000). */
  readonly maxLength?: number;
  /** Rewards of a correct answer at length maxLength and 0 (defaults 0.5 and 1). */
  readonly minCorrect?: number;
  readonly maxCorrect?: number;
  /** Rewards of a wrong answer at length 0 and maxLength (defaults -1 and -0.5): longer wrong answers are penalised less. */
  readonly minWrong?: number;
  readonly maxWrong?: number;
  /** Length counted in completion tokens (default; characters when ids are missing) or characters. */
  readonly unit?: LengthUnit;
  readonly verify?: VerifyOptions;
}

/**
 * Cosine-scaled accuracy (Yeo et al. 2025, open-r1 `cosine_scaled`): correct answers earn more
 * when short, wrong answers are penalised less when long.
 * r = lo + ½(hi − lo)(1 + cos(π·min(len, L)/L)), with (lo, hi) = (minCorrect, maxCorrect) or (maxWrong, minWrong).
 */
export function cosineLengthReward(options: CosineLengthOptions = {}): RewardFunction {
  const name = options.name ?? 'cosine_length';
  const field = options.referenceField ?? 'answer';
  const maxLength = options.maxLength ?? 1000;
  check(maxLength > 0, `cosineLength.maxLength must be > 0, got ${maxLength}.`);
  const minCorrect = options.minCorrect ?? 0.5;
  const maxCorrect = options.maxCorrect ?? 1;
  const minWrong = options.minWrong ?? -1;
  const maxWrong = options.maxWrong ?? -0.5;
  [minCorrect, maxCorrect, minWrong, maxWrong].forEach((v, k) => finite(`cosineLength.${['minCorrect', 'maxCorrect', 'minWrong', 'maxWrong'][k]}`, v));
  const unit = options.unit ?? 'tokens';
  return {
    name,
    score(input) {
      return input.completions.map((c, i) => {
        const ok = verifyMath(c, referenceOf(input, i, field, name), options.verify).equal;
        const progress = Math.min(lengthOf(input, i, unit), maxLength) / maxLength;
        const cosine = Math.cos(progress * Math.PI);
        const [lo, hi] = ok ? [minCorrect, maxCorrect] : [maxWrong, minWrong];
        return lo + 0.5 * (hi - lo) * (1 + cosine);
      });
    },
  };
}

export interface KimiLengthOptions {
  readonly name?: string;
  readonly referenceField?: string;
  readonly unit?: LengthUnit;
  readonly verify?: VerifyOptions;
}

/**
 * Kimi 1.5 length reward, per group of completions of the same prompt:
 * λ = 0.5 − (len − min) / (max − min); correct → λ, wrong → min(0, λ); 0 when all lengths are equal.
 */
export function kimiLengthReward(options: KimiLengthOptions = {}): RewardFunction {
  const name = options.name ?? 'kimi_length';
  const field = options.referenceField ?? 'answer';
  const unit = options.unit ?? 'tokens';
  return {
    name,
    score(input) {
      const lens = input.completions.map((_, i) => lengthOf(input, i, unit));
      const groups = new Map<string, number[]>();
      input.prompts.forEach((p, i) => {
        const g = groups.get(p);
        if (g) g.push(i);
        else groups.set(p, [i]);
      });
      const out: number[] = new Array<number>(input.completions.length).fill(0);
      for (const idx of groups.values()) {
        const ls = idx.map((i) => lens[i]!);
        const lo = Math.min(...ls);
        const hi = Math.max(...ls);
        if (hi === lo) continue;
        for (const i of idx) {
          const lambda = 0.5 - (lens[i]! - lo) / (hi - lo);
          const ok = verifyMath(input.completions[i]!, referenceOf(input, i, field, name), options.verify).equal;
          out[i] = ok ? lambda : Math.min(0, lambda);
        }
      }
      return out;
    },
  };
}

export interface OverlongOptions {
  readonly name?: string;
  /** L_max: the generation limit (e.g. 20480). */
  readonly maxLength: number;
  /** L_buf: the soft-penalty interval before the limit (e.g. 4096). */
  readonly bufferLength: number;
  /** Penalty at and beyond L_max (default 1). */
  readonly factor?: number;
  readonly unit?: LengthUnit;
}

/** DAPO soft overlong punishment: 0 up to L_max − L_buf, then linearly down to −factor at L_max (and below beyond). */
export function overlongPenalty(options: OverlongOptions): RewardFunction {
  const { maxLength, bufferLength } = options;
  check(Number.isFinite(maxLength) && maxLength > 0, `overlong.maxLength must be > 0, got ${String(maxLength)}.`);
  check(
    Number.isFinite(bufferLength) && bufferLength > 0 && bufferLength <= maxLength,
    `overlong.bufferLength must be in (0, maxLength], got ${String(bufferLength)}.`,
  );
  const factor = options.factor ?? 1;
  finite('overlong.factor', factor);
  const unit = options.unit ?? 'tokens';
  return {
    name: options.name ?? 'overlong',
    score: (input) =>
      input.completions.map((_, i) => {
        const exceed = lengthOf(input, i, unit) - (maxLength - bufferLength);
        return exceed <= 0 ? 0 : Math.min((-exceed / bufferLength) * factor, 0);
      }),
  };
}

export interface RepetitionOptions {
  readonly name?: string;
  /** n of the word n-grams (default 3). */
  readonly ngramSize?: number;
  /** Penalty when every n-gram repeats: a number ≤ 0 (default -1). */
  readonly maxPenalty?: number;
}

/** (1 − distinct n-grams / n-grams) · maxPenalty over lower-cased words (open-r1 repetition penalty). */
export function repetitionPenalty(options: RepetitionOptions = {}): RewardFunction {
  const n = options.ngramSize ?? 3;
  const maxPenalty = options.maxPenalty ?? -1;
  check(Number.isInteger(n) && n >= 1, `repetition.ngramSize must be an integer ≥ 1, got ${String(n)}.`);
  check(Number.isFinite(maxPenalty) && maxPenalty <= 0, `repetition.maxPenalty must be ≤ 0, got ${String(maxPenalty)}.`);
  return {
    name: options.name ?? 'repetition',
    score: (input) =>
      input.completions.map((c) => {
        const words = c.toLowerCase().split(/\s+/).filter(Boolean);
        if (words.length < n) return 0;
        const seen = new Set<string>();
        const total = words.length - n + 1;
        for (let i = 0; i < total; i++) seen.add(words.slice(i, i + n).join('\u0000'));
        const penalty = (1 - seen.size / total) * maxPenalty;
        return penalty === 0 ? 0 : penalty;
      }),
  };
}
