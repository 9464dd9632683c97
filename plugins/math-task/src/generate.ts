import { DataError, Rng, type DatasetRow } from '@grpo/core';
import { resolveDifficulty, type Difficulty, type DifficultyOption, type Op } from './difficulty.js';

/**
 * Every character a prompt or solution of this task can contain: lowercase letters, digits,
 * space, newline and `.,?+-*=#`. Build the policy's tokenizer from it
 * (`CharTokenizer.fromChars(MATH_TASK_CHARS)`), so its vocabulary does not depend on the data.
 */
export const MATH_TASK_CHARS: readonly string[] = [...'abcdefghijklmnopqrstuvwxyz0123456789 \n.,?+-*=#'];

/** What separates the question from the solution in `prompt`: the policy starts the solution on a new line. */
export const PROMPT_SEPARATOR = '\n';

/** One generated problem; also a `PromptDataset` row. */
export interface MathRow extends DatasetRow {
  /** What the policy sees: `question` + `PROMPT_SEPARATOR`. */
  prompt: string;
  question: string;
  /** The final answer, a non-negative integer written in decimal. */
  answer: string;
  /** One step per line, then `#### answer` (GSM8K format); no trailing newline, no EOS. */
  solution: string;
  /** The solution lines before `####`, e.g. `['23+15=38', '38-8=30']`. */
  steps: string[];
  /** The numbers the question gives, including the factor of "doubles" (2) and "triples" (3), in order. */
  numbers: number[];
  /** Template id. */
  template: string;
  /** Canonical key of the arithmetic (start number and operations, e.g. `23+15-8`); decides the split. */
  key: string;
}

interface Template {
  readonly id: string;
  /** Names a person who does the actions (`she buys 15`), or `null` when the clauses stand alone (`15 get on`). */
  readonly person: boolean;
  /** Opening sentence; `{name}`, `{n}` and `{item}` are filled in. */
  readonly intro: string;
  readonly items: readonly string[];
  /** Verb phrases with `{n}` per operation; `*` phrases are indexed by factor. */
  readonly add: readonly string[];
  readonly sub: readonly string[];
  readonly mul?: { readonly 2: string; readonly 3: string };
}

/** The templates. Short on purpose: every character is a token. */
export const TEMPLATES: readonly Template[] = [
  {
    id: 'shop',
    person: true,
    intro: '{name} has {n} {item}.',
    items: ['pens', 'books', 'cups', 'hats', 'toys'],
    add: ['buys {n}', 'gets {n}'],
    sub: ['sells {n}', 'gives {n}'],
    mul: { 2: 'doubles them', 3: 'triples them' },
  },
  {
    id: 'coins',
    person: true,
    intro: '{name} has {n} {item}.',
    items: ['coins', 'cards', 'gems'],
    add: ['finds {n}', 'wins {n}'],
    sub: ['loses {n}', 'spends {n}'],
    mul: { 2: 'doubles them', 3: 'triples them' },
  },
  {
    id: 'bake',
    person: true,
    intro: '{name} bakes {n} {item}.',
    items: ['cakes', 'pies', 'buns'],
    add: ['makes {n}', 'bakes {n}'],
    sub: ['eats {n}', 'sells {n}'],
    mul: { 2: 'doubles them', 3: 'triples them' },
  },
  {
    id: 'bus',
    person: false,
    intro: 'a bus has {n} {item}.',
    items: ['kids', 'men'],
    add: ['{n} get on'],
    sub: ['{n} get off'],
  },
  {
    id: 'tree',
    person: false,
    intro: 'a tree has {n} {item}.',
    items: ['birds', 'bats'],
    add: ['{n} land', '{n} come'],
    sub: ['{n} fly off', '{n} leave'],
    mul: { 2: 'they double', 3: 'they triple' },
  },
];

const NAMES: readonly (readonly [string, 'she' | 'he'])[] = [
  ['ann', 'she'],
  ['sue', 'she'],
  ['mia', 'she'],
  ['eva', 'she'],
  ['lea', 'she'],
  ['bob', 'he'],
  ['tom', 'he'],
  ['max', 'he'],
  ['ben', 'he'],
  ['sam', 'he'],
];

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(items.length)] as T;
/** Uniform integer in `[lo, hi]`. */
const between = (rng: Rng, lo: number, hi: number): number => lo + rng.int(hi - lo + 1);

/** Applies one operation. */
export function applyOp(a: number, op: Op, b: number): number {
  return op === '+' ? a + b : op === '-' ? a - b : a * b;
}

interface Action {
  op: Op;
  n: number;
}

/** Which operations can follow `value` without leaving `[0, maxValue]`. */
function feasible(value: number, d: Difficulty, ops: readonly Op[]): Op[] {
  return ops.filter((op) => (op === '+' ? value + d.minOperand <= d.maxValue : op === '-' ? value - d.minOperand >= 0 : value >= 1 && value * 2 <= d.maxValue));
}

function drawOperand(rng: Rng, value: number, op: Op, d: Difficulty): number {
  if (op === '+') return between(rng, d.minOperand, Math.min(d.maxOperand, d.maxValue - value));
  if (op === '-') return between(rng, d.minOperand, Math.min(d.maxOperand, value));
  return between(rng, 2, Math.min(d.maxMultiplier, Math.floor(d.maxValue / value)));
}

/** The canonical key of a problem's arithmetic: start number, then each operation and operand (`23+15-8*2`). */
export function problemKey(start: number, actions: readonly Action[]): string {
  return `${start}${actions.map((a) => `${a.op}${a.n}`).join('')}`;
}

/** FNV-1a of a string. */
function fnv1a(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Number of hash buckets keys are spread over; `testFraction` of them hold the test split. */
export const BUCKETS = 1000;
export const DEFAULT_TEST_FRACTION = 0.1;

/** The split a problem belongs to: decided by its arithmetic key alone, so train and test never share a problem. */
export function splitOfKey(key: string, testFraction = DEFAULT_TEST_FRACTION): 'train' | 'test' {
  return fnv1a(`math-task:${key}`) % BUCKETS < Math.round(testFraction * BUCKETS) ? 'test' : 'train';
}

/**
 * Draws one problem. Picks a template, a start number and `steps` operations, each feasible for
 * the running total (results stay in `[0, maxValue]`), and writes the question and its solution.
 * Deterministic given the RNG state. Accepts a preset name or resolved knobs.
 */
export function generateProblem(rng: Rng, difficulty: DifficultyOption = 'default'): MathRow {
  return generateResolved(rng, resolveDifficulty(difficulty));
}

function generateResolved(rng: Rng, d: Difficulty): MathRow {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const template = pick(rng, TEMPLATES);
    const ops = d.ops.filter((op) => op !== '*' || template.mul !== undefined);
    if (ops.length === 0) continue;
    const steps = between(rng, d.minSteps, d.maxSteps);
    const start = between(rng, d.minOperand, Math.min(d.maxOperand, d.maxValue));
    const actions: Action[] = [];
    let value = start;
    for (let s = 0; s < steps; s++) {
      const options = feasible(value, d, ops);
      if (options.length === 0) break;
      const op = pick(rng, options);
      const n = drawOperand(rng, value, op, d);
      actions.push({ op, n });
      value = applyOp(value, op, n);
    }
    if (actions.length < steps) continue;
    return write(rng, template, start, actions);
  }
  throw new DataError(`math-task: cannot generate a problem with difficulty ${JSON.stringify(d)}; widen the operand or value range`);
}

function write(rng: Rng, template: Template, start: number, actions: readonly Action[]): MathRow {
  const [name, pronoun] = pick(rng, NAMES);
  const item = pick(rng, template.items);
  const clauses = actions.map(({ op, n }) => {
    if (op === '*') return (template.mul as { 2: string; 3: string })[n as 2 | 3];
    return pick(rng, op === '+' ? template.add : template.sub).replace('{n}', String(n));
  });
  const intro = template.intro.replace('{name}', name).replace('{n}', String(start)).replace('{item}', item);
  const body = `${template.person ? `${pronoun} ` : ''}${clauses.join(', ')}.`;
  const question = `${intro} ${body} how many now?`;

  const steps: string[] = [];
  let value = start;
  for (const { op, n } of actions) {
    const next = applyOp(value, op, n);
    steps.push(`${value}${op}${n}=${next}`);
    value = next;
  }
  const answer = String(value);
  return {
    prompt: question + PROMPT_SEPARATOR,
    question,
    answer,
    solution: [...steps, `#### ${answer}`].join('\n'),
    steps,
    numbers: [start, ...actions.map((a) => a.n)],
    template: template.id,
    key: problemKey(start, actions),
  };
}

export interface SplitOptions {
  /** Default 0. */
  readonly seed?: number;
  readonly difficulty?: DifficultyOption;
  readonly split: 'train' | 'test';
  /** Share of key buckets that belong to the test split (default 0.1). */
  readonly testFraction?: number;
}

/**
 * Row `index` of a split: the first problem of the RNG stream seeded by `(seed, split, index)`
 * whose key falls in the split's buckets. Independent of every other index, so a dataset can
 * generate rows lazily in any order.
 */
export function problemAt(options: SplitOptions, index: number): MathRow {
  return rowAt(options, index, resolveDifficulty(options.difficulty));
}

function rowAt(options: SplitOptions, index: number, d: Difficulty): MathRow {
  const { seed = 0, split, testFraction = DEFAULT_TEST_FRACTION } = options;
  checkFraction(testFraction, split);
  const rng = new Rng(`math-task/${seed}/${split}/${index}`);
  for (let attempt = 0; attempt < 100_000; attempt++) {
    const row = generateResolved(rng, d);
    if (splitOfKey(row.key, testFraction) === split) return row;
  }
  throw new DataError(`math-task: found no ${split} problem in 100000 draws; check testFraction (${testFraction})`);
}

function checkFraction(testFraction: number, split: 'train' | 'test'): void {
  const testBuckets = Math.round(testFraction * BUCKETS);
  if (!(testFraction > 0 && testFraction < 1) || testBuckets === 0 || testBuckets === BUCKETS) {
    throw new DataError(
      `math-task: testFraction must leave both splits non-empty (between ${1 / BUCKETS} and ${1 - 1 / BUCKETS}), got ${testFraction} (${split} split)`,
    );
  }
}

/**
 * `size` rows of a split. With `unique` (the default for `test`) rows whose question already
 * appeared are skipped, so an evaluation never counts one problem twice; the skipped indices are
 * drawn past `size`. Same options → same rows.
 */
export function makeSplit(options: SplitOptions & { readonly size: number; readonly unique?: boolean }): MathRow[] {
  const d = resolveDifficulty(options.difficulty);
  const unique = options.unique ?? options.split === 'test';
  if (!Number.isInteger(options.size) || options.size < 1) throw new DataError(`math-task: split size must be an integer ≥ 1, got ${options.size}`);
  const rows: MathRow[] = [];
  const seen = new Set<string>();
  const limit = options.size * 20 + 1000;
  for (let index = 0; rows.length < options.size; index++) {
    if (index >= limit) {
      throw new DataError(
        `math-task: only ${rows.length} distinct ${options.split} problems in ${limit} draws; the difficulty has too few problems for size ${options.size}`,
      );
    }
    const row = rowAt(options, index, d);
    if (unique) {
      if (seen.has(row.question)) continue;
      seen.add(row.question);
    }
    rows.push(row);
  }
  return rows;
}

/**
 * The calculator's call syntax in this task: a step `23*7=161` is written `<<calc 23*7>>=161`, where
 * the policy writes `<<calc 23*7>>` and the calculator (`calculatorTool`) answers `=161`. The
 * tool arm's tokenizer needs two more characters than `MATH_TASK_CHARS`: `MATH_TASK_TOOL_CHARS`.
 */
export const CALC_CALL = { open: '<<calc ', close: '>>' } as const;

/** `MATH_TASK_CHARS` plus `<` and `>` for calculator calls; the tool arm's character vocabulary. */
export const MATH_TASK_TOOL_CHARS: readonly string[] = [...MATH_TASK_CHARS, '<', '>'];

/**
 * A row's solution with every step a calculator call: `23+15=38` becomes `<<calc 23+15>>=38`, the
 * `#### answer` line unchanged. What the tool arm's SFT learns; the `=38` part is what the
 * calculator inserts at rollout time.
 */
export function toolSolution(row: Pick<MathRow, 'steps' | 'answer'>): string {
  const steps = row.steps.map((step) => {
    const eq = step.lastIndexOf('=');
    return `${CALC_CALL.open}${step.slice(0, eq)}${CALC_CALL.close}${step.slice(eq)}`;
  });
  return [...steps, `#### ${row.answer}`].join('\n');
}
