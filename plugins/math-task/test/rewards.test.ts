import { scoreRollouts, type DatasetRow, type RewardFunction, type RewardScore, type Rollout } from '@grpo/core';
import { describe, expect, it } from 'vitest';
import { extractFinalAnswer, questionNumbers, stepCorrectness, taskAccuracy } from '../src/index.js';

function run(fn: RewardFunction, completions: readonly string[], rows: readonly DatasetRow[]): readonly RewardScore[] {
  const out = fn.score({
    prompts: rows.map((r) => r.prompt),
    completions,
    completionIds: completions.map(() => []),
    finishReasons: completions.map(() => 'eos' as const),
    rows,
  });
  if (out instanceof Promise) throw new Error('expected a synchronous reward');
  return out;
}

describe('extractFinalAnswer', () => {
  it.each([
    ['23+15=38\n38-8=30\n#### 30', '30'],
    ['#### 30', '30'],
    ['####30', '30'],
    ['#### \t30\n', '30'],
    ['#### 1,030', '1030'],
    ['#### 30.', '30'],
    ['#### 2.5', '2.5'],
    ['#### -4', '-4'],
    ['#### 30\n#### 31', '30'],
    ['#### 30 and more text', '30'],
  ])('%j → %s', (text, expected) => {
    expect(extractFinalAnswer(text)).toBe(expected);
  });

  it.each([[''], ['30'], ['the answer is 30'], ['#### '], ['####'], ['#### abc'], ['#### 30abc'], ['#### x #### 30'], ['##### 30'], ['### 30']])(
    '%j → null',
    (text) => {
      expect(extractFinalAnswer(text)).toBeNull();
    },
  );
});

describe('taskAccuracy', () => {
  const row = { prompt: 'q\n', answer: '30' };

  it('scores 1 exactly when #### x equals the answer numerically', () => {
    const completions = ['1+2=3\n#### 30', '#### 030', '#### 30.0', '#### 31', '30', '', '#### 30abc', '#### 31\n#### 30', '#### -30', '\u0000\uffff####'];
    expect(
      run(
        taskAccuracy(),
        completions,
        completions.map(() => row),
      ),
    ).toEqual([1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('accepts a numeric answer field, a custom field and name; rows without an answer give null', () => {
    const rows: DatasetRow[] = [{ prompt: 'a', answer: 7 }, { prompt: 'b' }, { prompt: 'c', answer: 'seven' }, { prompt: 'd', answer: null }];
    expect(run(taskAccuracy(), ['#### 7', '#### 7', '#### 7', '#### 7'], rows)).toEqual([1, null, null, null]);
    const custom = taskAccuracy({ name: 'acc', answerField: 'target' });
    expect(custom.name).toBe('acc');
    expect(
      run(
        custom,
        ['#### 12', '#### 12'],
        [
          { prompt: 'a', target: '12' },
          { prompt: 'b', answer: '12' },
        ],
      ),
    ).toEqual([1, null]);
  });
});

describe('stepCorrectness', () => {
  // 'ann has 23 pens. she buys 15, sells 8, buys 4. how many now?' → 23+15=38, 38-8=30, 30+4=34.
  const row = {
    prompt: 'ann has 23 pens. she buys 15, sells 8, buys 4. how many now?\n',
    question: 'ann has 23 pens. she buys 15, sells 8, buys 4. how many now?',
    answer: '34',
    numbers: [23, 15, 8, 4],
  };
  const steps = (completion: string, r: DatasetRow = row, fn = stepCorrectness()) => {
    const [score] = run(fn, [completion], [r]);
    if (score === null || typeof score !== 'object') throw new Error('expected an object score');
    expect(score.score).toBeNull();
    return score.steps ?? [];
  };

  it('a correct solution: one rewarded entry per line, ending at the line ends (offsets 8, 16, 24)', () => {
    //            0       8 9      16 17     24
    expect(steps('23+15=38\n38-8=30\n30+4=34\n#### 34')).toEqual([
      { endChar: 8, reward: 1 },
      { endChar: 16, reward: 1 },
      { endChar: 24, reward: 1 },
    ]);
  });

  it('a wrong step in the middle: that step and the step built on its wrong result get 0', () => {
    // 38-8=31 is wrong; 31+4=35 is right arithmetic but 31 is not a fact.
    expect(steps('23+15=38\n38-8=31\n31+4=35\n#### 35')).toEqual([
      { endChar: 8, reward: 1 },
      { endChar: 16, reward: 0 },
      { endChar: 24, reward: 0 },
    ]);
    // Continuing from the right value that was never derived (30) gets no credit either.
    expect(steps('23+15=38\n38-8=31\n30+4=34\n#### 34').map((s) => s.reward)).toEqual([1, 0, 0]);
  });

  it('an irrelevant but correct line gets 0; the rest still get credit', () => {
    //            0    5 6       14 15     22
    expect(steps('2+2=4\n23+15=38\n38-8=30\n#### 30')).toEqual([
      { endChar: 5, reward: 0 },
      { endChar: 14, reward: 1 },
      { endChar: 22, reward: 1 },
    ]);
  });

  it('garbage, empty and answer-only completions', () => {
    expect(steps('qwe rty')).toEqual([{ endChar: 7, reward: 0 }]);
    expect(steps('')).toEqual([]);
    expect(steps('#### 34')).toEqual([]);
    expect(steps('\n\n')).toEqual([]);
    expect(steps('23+15=38=38\n+\n=')).toEqual([
      { endChar: 11, reward: 0 },
      { endChar: 13, reward: 0 },
      { endChar: 15, reward: 0 },
    ]);
  });

  it('missing and blank lines, a truncated completion, lines after ####', () => {
    // A skipped step: only the lines written get entries.
    expect(steps('23+15=38\n#### 34')).toEqual([{ endChar: 8, reward: 1 }]);
    // A blank line gets no entry; the next line ends at 17.
    expect(steps('23+15=38\n\n38-8=30\n#### 30')).toEqual([
      { endChar: 8, reward: 1 },
      { endChar: 17, reward: 1 },
    ]);
    // Cut off mid-line (no ####): the partial line is a wrong step ending at the text's end.
    expect(steps('23+15=38\n38-')).toEqual([
      { endChar: 8, reward: 1 },
      { endChar: 12, reward: 0 },
    ]);
    // Nothing after the #### line is judged.
    expect(steps('23+15=38\n#### 38\n38-8=30')).toEqual([{ endChar: 8, reward: 1 }]);
    // A trailing newline ends the last line at its position.
    expect(steps('23+15=38\n')).toEqual([{ endChar: 8, reward: 1 }]);
  });

  it('tolerates spaces, accepts any order of known operands and reuse of a derived result', () => {
    expect(steps('23 + 15 = 38\n15+23=38\n38+38=76')).toEqual([
      { endChar: 12, reward: 1 },
      { endChar: 21, reward: 1 },
      { endChar: 30, reward: 1 },
    ]);
  });

  it('takes the numbers from the question when the row has no numbers field (doubles → 2)', () => {
    const question = 'ann has 85 toys. she doubles them, sells 93, buys 67. how many now?';
    expect(questionNumbers(question)).toEqual([85, 93, 67, 2]);
    const r = { prompt: `${question}\n`, question, answer: '144' };
    expect(steps('85*2=170\n170-93=77\n77+67=144\n#### 144', r).map((s) => s.reward)).toEqual([1, 1, 1]);
    // Without "doubles" 2 is not given.
    expect(steps('85*2=170', { prompt: 'ann has 85 toys.\n' }).map((s) => s.reward)).toEqual([0]);
  });

  it('uses the configured rewards and name; rejects non-finite ones', () => {
    const fn = stepCorrectness({ name: 'prm', wrongReward: -1, correctReward: 0.5 });
    expect(fn.name).toBe('prm');
    expect(steps('23+15=38\n38-8=31', row, fn)).toEqual([
      { endChar: 8, reward: 0.5 },
      { endChar: 16, reward: -1 },
    ]);
    expect(() => stepCorrectness({ wrongReward: Number.NaN })).toThrow(/wrongReward must be a finite number/);
  });

  it('logs the step count and the share of correct steps', () => {
    const [score] = run(stepCorrectness(), ['23+15=38\n38-8=31\n#### 31'], [row]);
    expect(score).toMatchObject({ info: { step_count: 2, step_correct_frac: 0.5 } });
  });

  it("passes core's reward validation and lands each step on the line's last character token", async () => {
    const completion = '23+15=38\n38-8=31\n#### 31';
    const rollout: Rollout = {
      row,
      prompt: row.prompt,
      promptIds: [],
      completions: [{ tokenIds: [...completion].map((_, i) => i), text: completion, logprobs: [], finishReason: 'eos' }],
    };
    // No tokenizer: one character per token.
    const batch = await scoreRollouts([rollout], [taskAccuracy(), stepCorrectness({ wrongReward: -1 })], {
      weights: {},
      timeoutMs: 1000,
      onError: 'raise',
      penalty: 0,
    });
    const group = batch.groups[0]!;
    expect(group.rewards).toEqual([0]);
    // One character per token: the '8' of '38' is token 7, the '1' of '31' is token 15; the
    // outcome reward (0, wrong answer) is the final step at the last token (23 of 24).
    expect(group.stepRewards).toEqual([
      [
        { token: 7, reward: 1 },
        { token: 15, reward: -1 },
        { token: 23, reward: 0 },
      ],
    ]);
  });
});
