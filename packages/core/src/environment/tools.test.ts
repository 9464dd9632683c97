import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { GrpoError } from '../errors.js';
import { describeTools, defineTool, toolEnvironment } from './tools.js';

const context = { row: { prompt: 'q' }, sample: 0, turn: 1, state: {}, signal: new AbortController().signal };
const add = defineTool({
  name: 'add',
  description: 'adds two integers written a,b',
  input: z.string().transform((raw, ctx) => {
    const m = /^(\d+),(\d+)$/.exec(raw);
    if (!m) {
      ctx.addIssue({ code: 'custom', message: 'expected a,b' });
      return z.NEVER;
    }
    return [Number(m[1]), Number(m[2])] as const;
  }),
  run: ([a, b]) => a + b,
});
const upper = defineTool({ name: 'upper', description: 'upper-cases text', input: z.string().min(1), run: async (s) => s.toUpperCase() });
const broken = defineTool({
  name: 'broken',
  description: 'always fails',
  input: z.string(),
  run: () => {
    throw new Error('disk on fire');
  },
});
const env = toolEnvironment({ tools: [add, upper, broken] });

describe('toolEnvironment', () => {
  it('stops a turn at >> and answers a call with =result', async () => {
    expect(env.name).toBe('tools');
    expect(env.stop).toEqual(['>>']);
    expect(await env.step('first <<add 23,7>>', context)).toEqual({ done: false, observation: '=30', metrics: { 'tools/calls': 1, 'tools/errors': 0 } });
    expect(await env.step('<<upper hi there>>', context)).toMatchObject({ done: false, observation: '=HI THERE' });
  });

  it('ends every answer with resultEnd, errors too', async () => {
    const lines = toolEnvironment({ tools: [add], resultEnd: '\n' });
    expect(await lines.step('<<add 23,7>>', context)).toMatchObject({ done: false, observation: '=30\n' });
    expect(await lines.step('<<mul 2,3>>', context)).toMatchObject({ observation: '=error: no tool named "mul" (have add)\n' });
  });

  it('ends the episode on a turn without a call', async () => {
    expect(await env.step('#### 30', context)).toEqual({ done: true, metrics: { 'tools/calls': 0, 'tools/errors': 0 } });
    expect(await env.step('', context)).toMatchObject({ done: true });
  });

  it('answers unknown tools, bad arguments and failing tools with =error: … (the model sees its mistake)', async () => {
    const errors = { done: false, metrics: { 'tools/calls': 1, 'tools/errors': 1 } };
    expect(await env.step('<<mul 2,3>>', context)).toEqual({ ...errors, observation: '=error: no tool named "mul" (have add, upper, broken)' });
    expect(await env.step('<<add 2+3>>', context)).toMatchObject({
      ...errors,
      observation: expect.stringMatching(/^=error: bad argument "2\+3" for add: .*expected a,b/),
    });
    expect(await env.step('<<broken x>>', context)).toEqual({ ...errors, observation: '=error: broken failed: disk on fire' });
  });

  it('rejects bad tool sets and describes tools for a prompt', () => {
    expect(() => toolEnvironment({ tools: [] })).toThrow(GrpoError);
    expect(() => toolEnvironment({ tools: [add, add] })).toThrow(/two tools are both named 'add'/);
    expect(() => toolEnvironment({ tools: [{ ...add, name: '1x' }] })).toThrow(/is not a name/);
    expect(describeTools([add, upper])).toBe('<<add …>>: adds two integers written a,b\n<<upper …>>: upper-cases text');
  });
});
