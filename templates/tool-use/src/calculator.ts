import { defineTool, definePlugin, Environment, toolEnvironment } from '@grpo/core';
import { z } from 'zod';

/** What the calculator takes: non-negative integers joined by `+`, `-`, `*` (the math task's working). */
const EXPRESSION = /^\d+([-+*]\d+)*$/;

/** Evaluates an expression the calculator takes: `*` before `+` and `-`, left to right. */
export function calculate(expression: string): number {
  const terms = expression.split(/(?=[-+])/);
  return terms.reduce((total, term) => {
    const sign = term.startsWith('-') ? -1 : 1;
    const product = term
      .replace(/^[-+]/, '')
      .split('*')
      .reduce((p, factor) => p * Number(factor), 1);
    return total + sign * product;
  }, 0);
}

/**
 * The tool: the policy writes `<<calc 23*7>>`, its turn stops at `>>`, and the environment
 * answers `=161` and the line's end; a bad argument is answered `=error: …`, which the policy reads too. `input`
 * checks (and here trims) the raw argument before `run` gets it.
 */
export const calc = defineTool({
  name: 'calc',
  description: 'integer arithmetic with + - * (e.g. <<calc 23*7>> answers =161)',
  input: z.string().trim().regex(EXPRESSION, 'expected integers joined by + - *, e.g. 23*7'),
  run: (expression) => calculate(expression),
});

export const calculatorOptions = z
  .strictObject({
    /** The environment's name: its reward, errors and `generation.environment.name`. */
    name: z.string().min(1).optional(),
  })
  .prefault({});

/**
 * The plugin: binds a tool environment with the calculator to core's `Environment` token. With
 * it the rollouts are multi-turn: each call's answer is appended as tokens the policy did not
 * sample (left out of the loss), and the policy continues after it.
 */
export const calculator = definePlugin({
  meta: { name: 'grpo-plugin-calculator', version: '0.1.0', core: '^0.1.0' },
  options: calculatorOptions,
  // `resultEnd`: the tool SFT policy's solutions put each call on its own line (`<<calc 18+42>>=60`
  // then a newline); ending the answer there keeps a sampled digit from extending the number
  // (`=6` then `8` would read as `=68`).
  register: ({ bind, options }) =>
    void bind<Environment>(Environment).toConstantValue(toolEnvironment({ name: options.name ?? 'calculator', tools: [calc], resultEnd: '\n' })),
});

export default calculator;
