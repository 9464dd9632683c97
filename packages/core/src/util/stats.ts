/** Statistics over plain number arrays, the one copy every package uses. */

/** Arithmetic mean; 0 for an empty list. */
export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** True when every value is exactly the same (an empty list counts as all-equal). */
export function allEqual(xs: readonly number[]): boolean {
  return xs.every((x) => x === xs[0]);
}

/**
 * Standard deviation: `unbiased` divides by n − 1 (TRL, verl, OpenRLHF), `biased` by n.
 * Fewer than two values, or all equal, give exactly 0.
 */
export function std(xs: readonly number[], kind: 'unbiased' | 'biased' = 'unbiased'): number {
  const n = xs.length;
  if (n < 2 || allEqual(xs)) return 0;
  const m = mean(xs);
  let ss = 0;
  for (const x of xs) ss += (x - m) * (x - m);
  return Math.sqrt(ss / (kind === 'unbiased' ? n - 1 : n));
}
