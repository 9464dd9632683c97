import type { ScoredGroup } from '../records.js';

/**
 * DAPO's soft overlong punishment: with exceed = |y| − (L_max − L_buf),
 * r += min(−exceed / L_buf · factor, 0), reaching −factor at L_max.
 */
export function overlongPenalty(length: number, maxLength: number, buffer: number, factor: number): number {
  const exceed = length - (maxLength - buffer);
  const penalty = Math.min((-exceed / buffer) * factor, 0);
  return penalty === 0 ? 0 : penalty; // no −0
}

/** Returns groups with the overlong penalty added to each completion's reward (and the mean penalty). */
export function applyOverlongShaping(
  groups: readonly ScoredGroup[],
  options: { maxLength: number; buffer: number; factor: number },
): { groups: ScoredGroup[]; meanPenalty: number } {
  let sum = 0;
  let n = 0;
  const shaped = groups.map((g) => ({
    ...g,
    rewards: g.rewards.map((r, i) => {
      const p = overlongPenalty(g.completions[i]!.tokenIds.length, options.maxLength, options.buffer, options.factor);
      sum += p;
      n++;
      return r + p;
    }),
  }));
  return { groups: shaped, meanPenalty: n ? sum / n : 0 };
}

/** True when a group's rewards are not all equal, i.e. it carries a learning signal (DAPO dynamic sampling). */
export function hasRewardVariance(group: ScoredGroup): boolean {
  const scored = group.rewards.filter((_, i) => !group.unscored[i]);
  return scored.length > 1 && scored.some((r) => Math.abs(r - scored[0]!) > 1e-12);
}
