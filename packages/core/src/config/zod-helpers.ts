import { z } from 'zod';

/**
 * Zod builders whose error messages read `expected <what>, got <value>`, the form every config
 * problem is reported in. Plugins build their own sections and options schemas with them too.
 */
/**
 * A value as a config problem shows it: JSON, except what JSON cannot say — NaN and ±Infinity
 * (JSON.stringify writes them as null), undefined, functions, bigints — written as they are.
 */
export function show(value: unknown): string {
  if (typeof value === 'number') return Object.is(value, -0) ? '0' : String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol' || value === undefined) return String(value);
  try {
    const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? `\u0000${v}\u0000` : v));
    return text.replace(/"\\u0000(NaN|-?Infinity)\\u0000"/g, '$1');
  } catch {
    return Object.prototype.toString.call(value);
  }
}

const says = (what: string) => ({ error: (issue: { input: unknown }) => `expected ${what}, got ${show(issue.input)}` });

/** An integer ≥ `min`. */
export const int = (min: number, what = `an integer ≥ ${min}`) => z.int(says(what)).min(min, says(what));
/** Any finite number. */
export const num = (what = 'a number') => z.number(says(what));
/** A number > 0. */
export const positive = (what = 'a number > 0') => num(what).positive(says(what));
/** A number in [0, 1]. */
export const fraction = (what = 'a number in [0, 1]') => num(what).min(0, says(what)).max(1, says(what));
/** A number in [0, 1). */
export const fractionBelowOne = (what = 'a number in [0, 1)') => num(what).min(0, says(what)).lt(1, says(what));
/** A number ≥ 0. */
export const nonNegative = (what = 'a number ≥ 0') => num(what).min(0, says(what));
/** A number > `bound`. */
export const greaterThan = (bound: number, what = `a number > ${bound}`) => num(what).gt(bound, says(what));

/**
 * `schema`, then checked by running `check` on the value (e.g. a factory that validates its own
 * options): what it throws becomes a config problem at this path (a `ConfigError`'s issues each
 * at their own path below it), in the same list as the rest.
 */
export const checkedBy = <S extends z.ZodType>(schema: S, check: (value: z.output<S>) => unknown) =>
  schema.superRefine((value, ctx) => {
    try {
      check(value);
    } catch (error) {
      const issues = (error as { issues?: unknown }).issues;
      if (Array.isArray(issues))
        for (const issue of issues as { path: string; message: string }[])
          ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path ? issue.path.split('.') : [] });
      else ctx.addIssue({ code: 'custom', message: (error as Error).message });
    }
  });

/** A function (plugin options that take callbacks, like a custom loader). */
export const fn = <F extends (...args: never[]) => unknown>(what = 'a function') =>
  z.custom<F>((v) => typeof v === 'function', { error: (i) => `expected ${what}, got ${show(i.input)}` });
