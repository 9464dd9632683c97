import { ConfigError, type ConfigIssue } from '@grpo/core';

/** An operation of a solution step: addition, subtraction, multiplication by a small number. */
export type Op = '+' | '-' | '*';

export const OPS: readonly Op[] = ['+', '-', '*'];

/**
 * The knobs that set how hard a problem is. Every problem starts from a number and applies
 * `steps` operations to a running total; each operation is one solution line `a op b = c`.
 */
export interface Difficulty {
  /** Fewest operations (solution lines before `####`). */
  readonly minSteps: number;
  /** Most operations; the count is uniform in `[minSteps, maxSteps]`. */
  readonly maxSteps: number;
  /** Operations to draw from. `*` multiplies by 2 ("doubles") or 3 ("triples"), up to `maxMultiplier`. */
  readonly ops: readonly Op[];
  /** Smallest starting number and `+`/`-` operand. */
  readonly minOperand: number;
  /** Largest starting number and `+`/`-` operand. */
  readonly maxOperand: number;
  /** Largest `*` factor: 2 or 3. */
  readonly maxMultiplier: number;
  /** Every intermediate result (and the answer) lies in `[0, maxValue]`. */
  readonly maxValue: number;
}

/**
 * Named presets. `default` is the training task of the project's demo: 2–3 steps of 2-digit
 * addition and subtraction with every result in 0..99 (prompt + solution ≤ 104 characters).
 */
export const DIFFICULTY_PRESETS = {
  /** 2 steps, 1-digit operands, results ≤ 20. */
  easy: { minSteps: 2, maxSteps: 2, ops: ['+', '-'], minOperand: 1, maxOperand: 9, maxMultiplier: 2, maxValue: 20 },
  /** 2–3 steps, operands 10–99, results 0–99. */
  default: { minSteps: 2, maxSteps: 3, ops: ['+', '-'], minOperand: 10, maxOperand: 99, maxMultiplier: 2, maxValue: 99 },
  /** 3–4 steps, operands 10–99, `×2`/`×3` too, results 0–999. */
  hard: { minSteps: 3, maxSteps: 4, ops: ['+', '-', '*'], minOperand: 10, maxOperand: 99, maxMultiplier: 3, maxValue: 999 },
} as const satisfies Record<string, Difficulty>;

export type DifficultyPreset = keyof typeof DIFFICULTY_PRESETS;

/** A preset name, or knobs that override the `default` preset (or `base`, a preset name). */
export type DifficultyOption = DifficultyPreset | (Partial<Difficulty> & { readonly base?: DifficultyPreset });

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x);

/** Resolves a preset name or partial knobs to a full, checked `Difficulty`; reports every problem at once. */
export function resolveDifficulty(option: DifficultyOption = 'default'): Difficulty {
  const issues: ConfigIssue[] = [];
  let d: Difficulty;
  if (typeof option === 'string') {
    if (!Object.hasOwn(DIFFICULTY_PRESETS, option)) {
      throw new ConfigError('math-task options', [
        { path: 'difficulty', message: `unknown preset '${option}'; expected one of ${Object.keys(DIFFICULTY_PRESETS).join(', ')}` },
      ]);
    }
    d = DIFFICULTY_PRESETS[option];
  } else {
    const { base = 'default', ...knobs } = option;
    if (!Object.hasOwn(DIFFICULTY_PRESETS, base)) {
      throw new ConfigError('math-task options', [{ path: 'difficulty.base', message: `unknown preset '${String(base)}'` }]);
    }
    d = { ...DIFFICULTY_PRESETS[base], ...knobs };
  }
  const at = (path: string, message: string) => issues.push({ path: `difficulty.${path}`, message });
  if (!isInt(d.minSteps) || d.minSteps < 1) at('minSteps', `expected an integer ≥ 1, got ${String(d.minSteps)}`);
  if (!isInt(d.maxSteps) || d.maxSteps < d.minSteps) at('maxSteps', `expected an integer ≥ minSteps (${String(d.minSteps)}), got ${String(d.maxSteps)}`);
  if (!Array.isArray(d.ops) || d.ops.length === 0 || d.ops.some((op) => !OPS.includes(op))) {
    at('ops', `expected a non-empty list of '+', '-', '*', got ${JSON.stringify(d.ops)}`);
  }
  if (!isInt(d.minOperand) || d.minOperand < 1) at('minOperand', `expected an integer ≥ 1, got ${String(d.minOperand)}`);
  if (!isInt(d.maxOperand) || d.maxOperand < d.minOperand)
    at('maxOperand', `expected an integer ≥ minOperand (${String(d.minOperand)}), got ${String(d.maxOperand)}`);
  if (!isInt(d.maxMultiplier) || d.maxMultiplier < 2 || d.maxMultiplier > 3) at('maxMultiplier', `expected 2 or 3, got ${String(d.maxMultiplier)}`);
  if (!isInt(d.maxValue) || d.maxValue < d.minOperand) at('maxValue', `expected an integer ≥ minOperand (${String(d.minOperand)}), got ${String(d.maxValue)}`);
  if (issues.length) throw new ConfigError('math-task options', issues);
  return { ...d, ops: [...new Set(d.ops)] };
}
