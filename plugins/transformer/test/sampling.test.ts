/**
 * The sampling distribution without truncation takes a faster path than with top-k / top-p; it
 * must give the same numbers bit for bit as the definition the truncating path implements:
 * log-softmax of logits / temperature with the normaliser summed in descending order of value.
 */
import { describe, expect, it } from 'vitest';
import { samplingLogProbs } from '../src/index.js';

/** The definition, written out: indices sorted by value (ties by id), terms summed largest first. */
function reference(logits: readonly number[], temperature: number): number[] {
  const scaled = logits.map((x) => x / temperature);
  const order = scaled.map((_, i) => i).sort((a, b) => scaled[b]! - scaled[a]! || a - b);
  const m = scaled[order[0]!]!;
  let s = 0;
  for (const i of order) s += Math.exp(scaled[i]! - m);
  const z = m + Math.log(s);
  return scaled.map((x) => x - z);
}

describe('samplingLogProbs without truncation', () => {
  it('equals the descending-order log-softmax bit for bit (ties, repeated values, large spreads)', () => {
    let seed = 12345;
    const next = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    const rows: number[][] = [
      [0, 0, 0, 0],
      [3, -1, 3, 2.5, -40, 3],
      Array.from({ length: 50 }, () => Math.fround(next() * 12)),
      Array.from({ length: 64 }, (_, i) => Math.fround(Math.sin(i) * 30)),
      Array.from({ length: 257 }, () => Math.fround(next() * 0.01)),
    ];
    for (const row of rows)
      for (const temperature of [1, 0.7, 1.3]) {
        const got = Array.from(samplingLogProbs(Float32Array.from(row), { temperature }));
        expect(got).toEqual(reference(Array.from(Float32Array.from(row)), temperature));
        // topK = vocabulary size and topP = 1 truncate nothing: the same numbers.
        expect(Array.from(samplingLogProbs(Float32Array.from(row), { temperature, topK: row.length, topP: 1 }))).toEqual(got);
      }
  });

  it('sums to one', () => {
    const lp = samplingLogProbs(Float32Array.from([1, 2, 3, 4, 5]), { temperature: 1 });
    expect(Array.from(lp).reduce((a, x) => a + Math.exp(x), 0)).toBeCloseTo(1, 12);
  });
});
