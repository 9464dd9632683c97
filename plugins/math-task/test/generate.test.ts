import { ConfigError, DataError, Rng } from '@grpo/core';
import { describe, expect, it } from 'vitest';
import {
  DIFFICULTY_PRESETS,
  MATH_TASK_CHARS,
  generateProblem,
  judgeSteps,
  makeSplit,
  parseStep,
  problemAt,
  resolveDifficulty,
  splitOfKey,
  type Difficulty,
  type MathRow,
} from '../src/index.js';

/**
 * Recomputes a row from its steps, independently of the generator; returns what is wrong with it
 * (plain checks, one `expect` per test, so thousands of rows stay fast).
 */
function rowProblems(row: MathRow, d: Difficulty): string[] {
  const bad: string[] = [];
  const check = (ok: boolean, what: string) => {
    if (!ok) bad.push(`${JSON.stringify(row.question)}: ${what}`);
  };
  check(row.prompt === `${row.question}\n`, 'prompt is not question + newline');
  check(row.solution === `${row.steps.join('\n')}\n#### ${row.answer}`, 'solution is not steps + #### answer');
  check(row.steps.length >= d.minSteps && row.steps.length <= d.maxSteps, `${row.steps.length} steps`);
  // The first step starts from the first number of the question; each next step from the previous result.
  let value = row.numbers[0] as number;
  check(row.question.includes(` ${value} `), `start ${value} not in the question`);
  let key = String(value);
  row.steps.forEach((line, k) => {
    const step = parseStep(line);
    if (!step) return check(false, `unparsable step ${line}`);
    const { a, op, b, c } = step;
    check(a === value, `${line} does not start from ${value}`);
    check(b === row.numbers[k + 1], `${line}: operand is not numbers[${k + 1}]`);
    check(d.ops.includes(op), `${line}: op not allowed`);
    check(c === (op === '+' ? a + b : op === '-' ? a - b : a * b), `${line} is wrong`);
    if (op === '*') {
      check(b >= 2 && b <= d.maxMultiplier, `${line}: factor out of range`);
      check((b === 2 ? /doubl/ : /tripl/).test(row.question), `${line}: factor not in the question`);
    } else {
      check(b >= d.minOperand && b <= d.maxOperand, `${line}: operand out of range`);
      check(new RegExp(`\\b${b}\\b`).test(row.question), `${line}: operand not in the question`);
    }
    check(c >= 0 && c <= d.maxValue, `${line}: result out of range`);
    value = c;
    key += `${op}${b}`;
  });
  check(row.answer === String(value), `answer ${row.answer} is not the last result ${value}`);
  check(row.key === key, `key ${row.key} is not ${key}`);
  // Its own solution gets full step credit.
  check(
    judgeSteps(row.solution, row.numbers).every((v) => v.correct),
    'its own solution does not verify',
  );
  check(
    [...(row.prompt + row.solution)].every((ch) => MATH_TASK_CHARS.includes(ch)),
    'a character outside MATH_TASK_CHARS',
  );
  return bad;
}

describe('generateProblem', () => {
  it('gives a hand-checked problem for a fixed seed (default difficulty)', () => {
    // 18 + 42 = 60; 60 - 53 = 7; 7 + 48 = 55 (checked by hand).
    expect(generateProblem(new Rng(42))).toEqual({
      prompt: 'sam has 18 coins. he wins 42, loses 53, wins 48. how many now?\n',
      question: 'sam has 18 coins. he wins 42, loses 53, wins 48. how many now?',
      answer: '55',
      solution: '18+42=60\n60-53=7\n7+48=55\n#### 55',
      steps: ['18+42=60', '60-53=7', '7+48=55'],
      numbers: [18, 42, 53, 48],
      template: 'coins',
      key: '18+42-53+48',
    });
  });

  it('gives hand-checked problems for the hard (with ×) and easy presets', () => {
    // 85 × 2 = 170; 170 − 93 = 77; 77 + 67 = 144.
    const hard = generateProblem(new Rng(7), 'hard');
    expect(hard.question).toBe('ann has 85 toys. she doubles them, sells 93, buys 67. how many now?');
    expect(hard.solution).toBe('85*2=170\n170-93=77\n77+67=144\n#### 144');
    expect(hard.numbers).toEqual([85, 2, 93, 67]);
    // 6 + 4 = 10; 10 − 7 = 3.
    const easy = generateProblem(new Rng(3), 'easy');
    expect(easy.question).toBe('sue bakes 6 buns. she bakes 4, sells 7. how many now?');
    expect(easy.solution).toBe('6+4=10\n10-7=3\n#### 3');
    expect(easy.answer).toBe('3');
  });

  it('is deterministic: same seed and difficulty → same problems; another seed → others', () => {
    const a = makeSplit({ seed: 5, split: 'train', size: 200 });
    const b = makeSplit({ seed: 5, split: 'train', size: 200 });
    const c = makeSplit({ seed: 6, split: 'train', size: 200 });
    expect(b).toEqual(a);
    expect(c.filter((row, i) => row.question === a[i]!.question).length).toBeLessThan(5);
    // problemAt(i) does not depend on what was generated before it.
    expect(problemAt({ seed: 5, split: 'train' }, 137)).toEqual(a[137]);
  });

  it.each(Object.keys(DIFFICULTY_PRESETS) as (keyof typeof DIFFICULTY_PRESETS)[])(
    'every step of 3000 %s problems verifies, the answer is the last result, and the knobs hold',
    (preset) => {
      const d = resolveDifficulty(preset);
      const rng = new Rng(`verify-${preset}`);
      const stepCounts = new Set<number>();
      const ops = new Set<string>();
      const templates = new Set<string>();
      const problems: string[] = [];
      for (let i = 0; i < 3000; i++) {
        const row = generateProblem(rng, preset);
        problems.push(...rowProblems(row, d));
        stepCounts.add(row.steps.length);
        for (const s of row.steps) ops.add(parseStep(s)!.op);
        templates.add(row.template);
      }
      expect(problems).toEqual([]);
      // Every allowed step count, operation and template occurs.
      expect([...stepCounts].sort()).toEqual(Array.from({ length: d.maxSteps - d.minSteps + 1 }, (_, k) => d.minSteps + k));
      expect([...ops].sort()).toEqual([...d.ops].sort());
      expect(templates.size).toBe(5);
    },
  );

  it('honours custom knobs (4 steps, + and × only, results up to 500)', () => {
    const d = resolveDifficulty({ minSteps: 4, maxSteps: 4, ops: ['*', '+'], maxValue: 500 });
    const rng = new Rng(1);
    const rows = Array.from({ length: 1000 }, () => generateProblem(rng, { minSteps: 4, maxSteps: 4, ops: ['*', '+'], maxValue: 500 }));
    expect(rows.flatMap((row) => rowProblems(row, d))).toEqual([]);
    expect(rows.some((row) => row.steps.some((s) => s.includes('-')))).toBe(false);
    expect(rows.some((row) => row.steps.some((s) => s.includes('*')))).toBe(true);
    expect(Math.max(...rows.map((row) => Number(row.answer)))).toBeGreaterThan(99);
  });

  it('reports every bad knob at once, with its path', () => {
    let error: unknown;
    try {
      resolveDifficulty({ minSteps: 0, ops: ['/' as '+'], maxMultiplier: 5 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.path)).toEqual(['difficulty.minSteps', 'difficulty.ops', 'difficulty.maxMultiplier']);
    expect(() => resolveDifficulty('impossible' as 'easy')).toThrow(/unknown preset 'impossible'; expected one of easy, default, hard/);
  });

  it('fails with a DataError when the difficulty admits too few distinct test problems', () => {
    // 1-step problems over 1..3 with results ≤ 3: a handful of questions in all.
    expect(() =>
      makeSplit({ split: 'test', size: 500, difficulty: { minSteps: 1, maxSteps: 1, minOperand: 1, maxOperand: 3, maxValue: 3, ops: ['+'] } }),
    ).toThrow(DataError);
  });
});

describe('train/test split', () => {
  it('never shares an arithmetic key between train and test (5000 train × 2000 test rows)', () => {
    const train = makeSplit({ seed: 1, split: 'train', size: 5000 });
    const test = makeSplit({ seed: 1, split: 'test', size: 2000 });
    const trainKeys = new Set(train.map((r) => r.key));
    expect(test.filter((r) => trainKeys.has(r.key))).toEqual([]);
    expect(test.filter((r) => train.some((t) => t.question === r.question))).toEqual([]);
    for (const r of train) expect(splitOfKey(r.key)).toBe('train');
    for (const r of test) expect(splitOfKey(r.key)).toBe('test');
    // The test split has distinct questions; the split is by key, so it holds for any seed too.
    expect(new Set(test.map((r) => r.question)).size).toBe(2000);
    const otherSeed = makeSplit({ seed: 99, split: 'train', size: 2000 });
    expect(otherSeed.filter((r) => splitOfKey(r.key) === 'test')).toEqual([]);
  });

  it('holds out about testFraction of the problem space', () => {
    const rng = new Rng('fraction');
    let test = 0;
    for (let i = 0; i < 4000; i++) if (splitOfKey(generateProblem(rng).key) === 'test') test++;
    // 10% expected; binomial sd ≈ 19 of 4000.
    expect(test).toBeGreaterThan(300);
    expect(test).toBeLessThan(500);
    expect(() => makeSplit({ split: 'test', size: 1, testFraction: 0 })).toThrow(/testFraction must leave both splits non-empty/);
  });
});

describe('lengths', () => {
  // Longest default problem: 'a tree has 99 birds. 99 fly off, 99 fly off, 99 fly off. how many now?\n'
  // (71 characters, a 70-character question) + 3 lines 'dd-dd=dd' (9 each with newline) + '#### dd' = 105.
  const BOUND = 105;

  it(`keeps prompt + solution ≤ ${BOUND} characters at the default difficulty`, () => {
    const rows = makeSplit({ seed: 0, split: 'train', size: 20000 });
    const lengths = rows.map((r) => r.prompt.length + r.solution.length);
    const max = Math.max(...lengths);
    const mean = lengths.reduce((a, b) => a + b, 0) / lengths.length;
    const promptMax = Math.max(...rows.map((r) => r.prompt.length));
    console.log(
      `math-task default: prompt+solution max ${max}, mean ${mean.toFixed(1)}; prompt max ${promptMax}; solution max ${Math.max(...rows.map((r) => r.solution.length))}`,
    );
    expect(max).toBeLessThanOrEqual(BOUND);
    expect(promptMax).toBeLessThanOrEqual(71);
    expect(mean).toBeGreaterThan(70);
    expect(mean).toBeLessThan(95);
  });
});
