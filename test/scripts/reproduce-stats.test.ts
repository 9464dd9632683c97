import { describe, expect, it } from 'vitest';
import { confidenceInterval, pairedDifferences, tQuantile975 } from '../../scripts/reproduce-stats.js';

// Expected values from Python's statistics module and a printed t table (t(0.975, 4) = 2.776).
describe('bench:reproduce intervals', () => {
  it('takes t quantiles from the table, and 1.96 beyond 30 degrees of freedom', () => {
    expect(tQuantile975(1)).toBe(12.706);
    expect(tQuantile975(4)).toBe(2.776);
    expect(tQuantile975(30)).toBe(2.042);
    expect(tQuantile975(100)).toBe(1.96);
    expect(() => tQuantile975(0)).toThrow(/degrees of freedom/);
  });

  it('gives a t interval for a mean over seeds', () => {
    const ci = confidenceInterval([1, 2, 3, 4, 5]);
    expect(ci.mean).toBe(3);
    expect(ci.halfWidth).toBeCloseTo(1.9629284245738559, 12);
    expect(ci.low).toBeCloseTo(3 - 1.9629284245738559, 12);
    expect(Number.isNaN(confidenceInterval([0.5]).halfWidth)).toBe(true);
  });

  it('pairs two arms by seed, ignoring seeds only one of them ran', () => {
    const a = new Map([
      [0, 51.3],
      [1, 52.0],
      [2, 45.7],
      [3, 50.1],
      [4, 49.9],
      [7, 99],
    ]);
    const b = new Map([
      [4, 50.5],
      [3, 48.0],
      [2, 47.7],
      [1, 51.0],
      [0, 49.3],
    ]);
    const d = pairedDifferences(a, b);
    expect(d.seeds).toEqual([0, 1, 2, 3, 4]);
    expect(d.differences.map((x) => +x.toFixed(6))).toEqual([2, 1, -2, 2.1, -0.6]);
    expect(d.mean).toBeCloseTo(0.5, 12);
    expect(d.halfWidth).toBeCloseTo(2.1963756909964203, 12);
  });
});
