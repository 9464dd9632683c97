/**
 * Confidence intervals for `bench:reproduce`: a method's mean over seeds, and the paired
 * difference of two methods run with the same seeds (same data order and sampling seed, so the
 * pairing removes the seed's share of the variance).
 */

/** Student's t quantile t(0.975, df) for df = 1…30 (two-sided 95%); beyond 30 the normal's 1.96 is within 2%. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069,
  2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new RangeError(`degrees of freedom must be an integer ≥ 1, got ${df}`);
  return T975[df - 1] ?? 1.96;
}

export interface Interval {
  n: number;
  mean: number;
  /** Half-width of the two-sided 95% interval (t with n − 1 degrees of freedom); NaN for one value. */
  halfWidth: number;
  low: number;
  high: number;
}

/** Mean and 95% confidence interval of `xs` (a t interval: seeds are few). */
export function confidenceInterval(xs: readonly number[]): Interval {
  const n = xs.length;
  if (n === 0) throw new RangeError('no values');
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { n, mean, halfWidth: NaN, low: NaN, high: NaN };
  const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1);
  const halfWidth = (tQuantile975(n - 1) * Math.sqrt(variance)) / Math.sqrt(n);
  return { n, mean, halfWidth, low: mean - halfWidth, high: mean + halfWidth };
}

/** `a − b` per seed both have, with its interval; `seeds` says which were paired. */
export function pairedDifferences(a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>): Interval & { seeds: number[]; differences: number[] } {
  const seeds = [...a.keys()].filter((s) => b.has(s)).sort((x, y) => x - y);
  const differences = seeds.map((s) => a.get(s)! - b.get(s)!);
  return { ...confidenceInterval(differences), seeds, differences };
}
