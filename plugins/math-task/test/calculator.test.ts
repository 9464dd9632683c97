import { describe, expect, it } from 'vitest';
import { Rng } from '@grpo/core';
import { calculatorEnvironment, evaluateExpression, generateProblem, sftExamples, toolSolution } from '../src/index.js';

const context = { row: { prompt: 'q' }, sample: 0, turn: 1, state: {}, signal: new AbortController().signal };

describe('the calculator tool', () => {
  it('evaluates with * before + and - (worked values)', () => {
    expect(evaluateExpression('23*7')).toBe(161);
    expect(evaluateExpression('2+3*4')).toBe(14);
    expect(evaluateExpression('20-3*4+1')).toBe(9);
    expect(evaluateExpression(' 5 - 8 ')).toBe(-3);
  });

  it('answers <<calc 23*7>> with =161 and the end of the line, and reports a malformed expression to the model', async () => {
    const env = calculatorEnvironment();
    expect(env.name).toBe('calculator');
    // The newline ends the number: the model cannot extend the calculator's answer with digits of its own.
    expect(await env.step('<<calc 23*7>>', context)).toMatchObject({ done: false, observation: '=161\n' });
    expect(await env.step('<<calc 23/7>>', context)).toMatchObject({ observation: expect.stringMatching(/^=error: bad argument "23\/7"/) });
  });

  it('writes solutions the calculator reproduces step by step', async () => {
    const env = calculatorEnvironment();
    const rng = new Rng(4);
    for (let i = 0; i < 20; i++) {
      const row = generateProblem(rng);
      const text = toolSolution(row);
      expect(text.split('\n').at(-1)).toBe(`#### ${row.answer}`);
      // Replaying the solution: each call's text up to >> gets exactly the rest of its line, newline included.
      for (const line of text.split('\n').slice(0, -1)) {
        const cut = line.indexOf('>>') + 2;
        const answer = await env.step(line.slice(0, cut), context);
        expect(answer.observation).toBe(`${line.slice(cut)}\n`);
      }
    }
  });

  it('gives the tool arm SFT examples that call the calculator (worked example)', () => {
    const row = { prompt: 'q\n', solution: '23+15=38\n38*2=76\n#### 76', steps: ['23+15=38', '38*2=76'], answer: '76' };
    expect(sftExamples([row], { tool: true })).toEqual([{ prompt: 'q\n', completion: '<<calc 23+15>>=38\n<<calc 38*2>>=76\n#### 76' }]);
    expect(sftExamples([row])).toEqual([{ prompt: 'q\n', completion: row.solution }]);
    expect(() => sftExamples([{ prompt: 'q\n', solution: '1+1=2\n#### 2' }], { tool: true })).toThrow(/needs each row's steps and answer/);
  });
});
