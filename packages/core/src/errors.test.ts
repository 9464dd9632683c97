import { tsImport } from 'tsx/esm/api';
import { describe, expect, it } from 'vitest';
import type * as errors from './errors.js';
import { ConfigError, GrpoError, RewardError } from './errors.js';

describe('GrpoError across copies of @grpo/core', () => {
  it('recognises the errors of a copy loaded the way tsx loads a TypeScript config, by class', async () => {
    const copy = (await tsImport('./errors.ts', import.meta.url)) as typeof errors;
    expect(copy.RewardError).not.toBe(RewardError);
    const theirs = new copy.RewardError('a reward failed');
    expect(theirs).toBeInstanceOf(GrpoError);
    expect(theirs).toBeInstanceOf(RewardError);
    expect(theirs).not.toBeInstanceOf(ConfigError);
    expect(new copy.ConfigError('x.ts', [])).toBeInstanceOf(ConfigError);
    expect(new RewardError('ours')).toBeInstanceOf(copy.GrpoError);
    // Errors that are not ours are not matched by name alone.
    class RewardErrorLookalike extends Error {}
    Object.defineProperty(RewardErrorLookalike, 'name', { value: 'RewardError' });
    expect(new RewardErrorLookalike('x')).not.toBeInstanceOf(RewardError);
    expect(new Error('plain')).not.toBeInstanceOf(GrpoError);
  });
});
