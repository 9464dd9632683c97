/** The estimate stage: scored groups (and what `prepare` computed) → per-token advantages, checked. */
import type { Algorithm } from '../contracts/algorithm.js';
import { GrpoError } from '../errors.js';
import type { AdvantageBatch, ScoredGroup } from '../records.js';
import { perSample, type PreparedBatch } from './prepare.js';

/**
 * Runs the algorithm's estimator with its options, the prepared per-token arrays it uses, and
 * the KL-in-reward β when the KL goes into the reward. Every completion must get one advantage per
 * token, and one return per token when `needsReturns` (a participant trains on them).
 */
export function estimate(groups: readonly ScoredGroup[], prepared: PreparedBatch, algorithm: Algorithm, options: { needsReturns: boolean }): AdvantageBatch {
  const { estimator } = algorithm;
  const klInReward = algorithm.kl.placement === 'reward';
  // Log-probs leave the tensors only for an estimator that reads them.
  const logprobs = estimator.needsLogprobs || klInReward;
  const oldLogprobs = logprobs ? perSample(prepared, 'oldLogprobs') : undefined;
  const result = estimator.estimate({
    groups,
    options: algorithm.advantageOptions,
    values: perSample(prepared, 'values'),
    oldLogprobs,
    refLogprobs: logprobs ? withoutEnvironmentKl(groups, oldLogprobs, perSample(prepared, 'refLogprobs')) : undefined,
    klInReward: klInReward ? { beta: algorithm.kl.beta } : undefined,
  });
  prepared.samples.forEach((s, i) => {
    const n = s.completionIds.length;
    const advantages = result.advantages[i];
    if (!advantages || advantages.length !== n)
      throw new GrpoError(`advantage estimator '${estimator.name}' returned ${advantages?.length ?? 'no'} advantages for a completion of ${n} tokens`);
    if (options.needsReturns && result.returns?.[i]?.length !== n)
      throw new GrpoError(`advantage estimator '${estimator.name}' returned no returns for the critic; use an estimator that computes them (e.g. 'gae')`);
  });
  return result;
}

/**
 * π_ref log-probs with the environment's tokens (`Completion.mask` 0) set to π_old's, so the KL in
 * the reward is 0 there: the model did not sample them, so they carry no KL of its own.
 */
function withoutEnvironmentKl(groups: readonly ScoredGroup[], old: number[][] | undefined, ref: number[][] | undefined): number[][] | undefined {
  const masks = groups.flatMap((g) => g.completions.map((c) => c.mask));
  if (!ref || !old || !masks.some(Boolean)) return ref;
  return ref.map((row, i) => row.map((value, t) => (masks[i]?.[t] === 0 ? old[i]![t]! : value)));
}
