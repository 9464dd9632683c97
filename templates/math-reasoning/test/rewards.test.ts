import type { GrpoPlugin, RewardFunction } from '@grpo/core';
import { RewardTester } from '@grpo/core/testing';
import { mathRewards } from '@grpo/plugin-math-reward';
import { mathTaskParts } from '@grpo/plugin-math-task';
import { describe, expect, it } from 'vitest';
import { mathReasoning } from '../src/task.js';

const reward = (name: string): RewardFunction => {
  const found = mathRewards({ accuracy: true, format: false, repetition: true }).find((r) => r.name === name);
  if (!found) throw new Error(`no reward ${name}`);
  return found;
};

describe('math-reasoning', () => {
  it('the preset brings the task and the math rewards', () => {
    const names = mathReasoning()
      .flat()
      .filter((p): p is GrpoPlugin => typeof p === 'object' && p !== null && 'meta' in p)
      .map((p) => p.meta.name);
    expect(names).toEqual(['@grpo/plugin-math-task', '@grpo/plugin-math-reward']);
  });

  it('accuracy gives 1 to the reference solution of a task problem and 0 to a wrong answer', async () => {
    const { train } = mathTaskParts({ seed: 0, trainSize: 3, testSize: 0 });
    const row = train.get(0);
    const wrong = String(Number(row.answer) + 1);
    await new RewardTester(reward('accuracy')).assert([
      { name: 'reference solution', prompt: row.prompt, row, completion: row.solution, expected: 1 },
      { name: 'wrong final answer', prompt: row.prompt, row, completion: `#### ${wrong}`, expected: 0 },
      { name: 'no answer at all', prompt: row.prompt, row, completion: 'i do not know', expected: 0 },
    ]);
  });

  it('RewardTester reports a case that does not hold', async () => {
    const report = await new RewardTester(reward('accuracy')).run([{ completion: '#### 3', row: { answer: '3' }, expected: 0 }]);
    expect(report.failed).toBe(1);
  });
});
