import { describe, expect, it } from 'vitest';
import type { RewardFunction } from '../contracts/reward.js';
import { accuracyReward, passAndMajority } from './evaluate.js';

describe('passAndMajority', () => {
  it('counts pass@k when any sample is right', () => {
    expect(passAndMajority([false, false, true], ['1', '2', '3']).pass).toBe(true);
    expect(passAndMajority([false, false], ['1', '2']).pass).toBe(false);
  });
  it('votes by extracted answer; unanswered samples do not vote', () => {
    // Answers 7,7,5,null,null,null: 7 wins with 2 votes even though "no answer" is most common.
    expect(passAndMajority([false, false, true, false, false, false], ['7', '7', '5', null, null, null])).toEqual({ pass: true, majority: false });
    expect(passAndMajority([true, false, true, false], ['5', '7', '5', '7'])).toEqual({ pass: true, majority: true });
    // Tie 5 vs 7 (two each): the answer seen first wins.
    expect(passAndMajority([false, true, false, true], ['7', '5', '7', '5']).majority).toBe(false);
    expect(passAndMajority([false, false], [null, null])).toEqual({ pass: false, majority: false });
  });
});

describe('accuracyReward', () => {
  const r = (name: string): RewardFunction => ({ name, score: () => [] });
  it('picks the named reward, else the first named like accuracy', () => {
    expect(accuracyReward([r('format'), r('task_accuracy')]).name).toBe('task_accuracy');
    expect(accuracyReward([r('format'), r('exact')], 'exact').name).toBe('exact');
    expect(() => accuracyReward([r('format')])).toThrow(/no reward function is named like '\*accuracy\*'.*have: format/);
    expect(() => accuracyReward([r('format')], 'nope')).toThrow(/eval.accuracyReward names 'nope'/);
  });
});
