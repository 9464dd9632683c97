import { defineTool, toolEnvironment, type Environment } from '@grpo/core';
import { z } from 'zod';

/** `a op b op c …` over non-negative integers with `+`, `-`, `*`: what the calculator takes. */
const EXPRESSION = /^\s*\d+(\s*[-+*]\s*\d+)*\s*$/;

/** Evaluates an expression the calculator accepts, `*` before `+` and `-` (left to right). */
export function evaluateExpression(expression: string): number {
  const tokens = expression.replace(/\s+/g, '').match(/\d+|[-+*]/g) ?? [];
  let total = 0;
  let sign = 1;
  let term = Number(tokens[0]);
  for (let i = 1; i < tokens.length; i += 2) {
    const op = tokens[i]!;
    const n = Number(tokens[i + 1]);
    if (op === '*') term *= n;
    else {
      total += sign * term;
      sign = op === '+' ? 1 : -1;
      term = n;
    }
  }
  return total + sign * term;
}

/** The task's calculator: `<<calc 23*7>>` is answered `=161` (the environment ends the line). */
export const calculatorTool = defineTool({
  name: 'calc',
  description: 'integer arithmetic with + - * (e.g. <<calc 23*7>> answers =161)',
  input: z.string().regex(EXPRESSION, 'expected integers joined by + - *, e.g. 23*7'),
  run: (expression: string) => evaluateExpression(expression),
});

/**
 * The calculator as an environment named `calculator` (`mathTask({ tool: true })` binds it). It
 * answers `<<calc 23*7>>` with `=161` and the line's end, as the SFT solutions have it: left open,
 * the model went on writing digits after the answer in 14% of sampled trajectories of
 * the earlier two-stage `checkpoints/sft-calc` (`=6` then `8`, read as `=68`), and GRPO spent its steps unlearning that.
 */
export function calculatorEnvironment(): Environment {
  return toolEnvironment({ name: 'calculator', tools: [calculatorTool], resultEnd: '\n' });
}
