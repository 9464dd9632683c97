/** Held-out metrics of reward models: accuracy, ROC AUC (by ranking) and pairwise accuracy. */

/** Share of `scores` on the right side of `threshold` (score ≥ threshold predicts 1); labels are 0/1 (≥ 0.5 counts as 1). */
export function binaryAccuracy(scores: readonly number[], labels: readonly number[], threshold = 0.5): number {
  if (scores.length !== labels.length) throw new RangeError(`binaryAccuracy: ${scores.length} scores but ${labels.length} labels`);
  if (scores.length === 0) return Number.NaN;
  let right = 0;
  scores.forEach((s, i) => {
    if (s >= threshold === labels[i]! >= 0.5) right++;
  });
  return right / scores.length;
}

/**
 * Area under the ROC curve, computed by ranking (Mann–Whitney U): the probability that a random
 * positive scores above a random negative, ties counting one half. `NaN` when a class is absent.
 */
export function rocAuc(scores: readonly number[], labels: readonly number[]): number {
  if (scores.length !== labels.length) throw new RangeError(`rocAuc: ${scores.length} scores but ${labels.length} labels`);
  const order = scores.map((s, i) => [s, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(scores.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    const rank = (i + j) / 2 + 1; // average 1-based rank of a run of ties
    for (let k = i; k <= j; k++) ranks[order[k]![1]] = rank;
    i = j + 1;
  }
  let positives = 0;
  let rankSum = 0;
  labels.forEach((y, i) => {
    if (y >= 0.5) {
      positives++;
      rankSum += ranks[i]!;
    }
  });
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Share of pairs where the chosen completion scores higher than the rejected one (ties count one half). */
export function pairwiseAccuracy(chosen: readonly number[], rejected: readonly number[]): number {
  if (chosen.length !== rejected.length) throw new RangeError(`pairwiseAccuracy: ${chosen.length} chosen but ${rejected.length} rejected scores`);
  if (chosen.length === 0) return Number.NaN;
  let total = 0;
  chosen.forEach((c, i) => {
    const r = rejected[i]!;
    total += c > r ? 1 : c === r ? 0.5 : 0;
  });
  return total / chosen.length;
}

/** Index of the first step labelled (or predicted) wrong, or -1 when every step is right. */
export function firstWrongStep(values: readonly number[], threshold = 0.5): number {
  return values.findIndex((v) => v < threshold);
}

export const sigmoid = (z: number): number => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));
