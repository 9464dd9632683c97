import { checkEnvironment, ConfigError, Environment, type EnvironmentContext } from '@grpo/core';
import { createTestContainer, testConfig } from '@grpo/core/testing';
import { describe, expect, it } from 'vitest';
import calculator, { calc, calculate } from '../src/calculator.js';

const context = (turn: number): EnvironmentContext => ({ row: { prompt: '' }, sample: 0, turn, state: {}, signal: new AbortController().signal });

describe('calculator', () => {
  it('computes * before + and -, left to right', () => {
    expect(calculate('23*7')).toBe(161);
    expect(calculate('2+3*4')).toBe(14);
    expect(calculate('10-4-3')).toBe(3);
    expect(calculate('5-2*3+1')).toBe(0);
  });

  it('checks its argument', () => {
    expect(calc.input.parse(' 23*7 ')).toBe('23*7');
    expect(() => calc.input.parse('2/3')).toThrow(/expected integers joined by/);
  });

  it('the plugin binds an environment that answers calls and ends the episode on anything else', async () => {
    const container = await createTestContainer({ plugins: [calculator()] });
    const [env] = container.getAll<Environment>(Environment);
    expect(env!.name).toBe('calculator');
    expect(env!.stop).toEqual(['>>']);
    await checkEnvironment(env!, { prompt: 'a question' }, 1000);
    expect(await env!.step('first <<calc 23*7>>', context(1))).toEqual({
      done: false,
      observation: '=161\n',
      metrics: { 'tools/calls': 1, 'tools/errors': 0 },
    });
    const bad = await env!.step('<<calc 2/3>>', context(2));
    expect(bad.observation).toMatch(/^=error: bad argument "2\/3" for calc/);
    expect(bad.metrics).toEqual({ 'tools/calls': 1, 'tools/errors': 1 });
    expect(await env!.step('\n#### 161', context(3))).toMatchObject({ done: true });
  });

  it('rejects unknown options, with the config problems', async () => {
    await expect(testConfig({}, [calculator({ name: '' })])).rejects.toThrow(ConfigError);
  });
});
