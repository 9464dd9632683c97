import type { RunDescription } from '@grpo/core';

/** What a run trains with, in one line: what `grpo train` prints at the start and `grpo config validate` after checking. */
export type RunSummary = Pick<RunDescription, 'estimator' | 'objective' | 'aggregation' | 'kl' | 'rewards'> &
  Partial<Pick<RunDescription, 'engine' | 'filters' | 'shapers' | 'participants'>>;

const weight = (w: number) => (w === 1 ? '' : ` ×${w}`);

/**
 * `algorithm: estimator grpo, objective clipped-surrogate, loss aggregation seq-mean-token-mean,
 * KL k3 (β 0.04, in the loss); rewards: task_accuracy, concise_answer ×0.25`. `klEstimator` names
 * the KL estimator of the loss (the config's `algorithm.kl.estimator`); a KL in the reward is k1.
 */
export function describeRun(d: RunSummary, klEstimator?: string): string {
  const kl =
    d.kl.placement === 'none' ? 'no KL penalty' : `KL ${d.kl.placement === 'reward' ? 'k1' : (klEstimator ?? '?')} (β ${d.kl.beta}, in the ${d.kl.placement})`;
  const parts = [`estimator ${d.estimator}`, `objective ${d.objective}`, `loss aggregation ${d.aggregation}`, kl];
  if (d.engine && d.engine !== 'policy') parts.push(`rollout engine ${d.engine}`);
  if (d.filters?.length) parts.push(`filters ${d.filters.join(', ')}`);
  if (d.shapers?.length) parts.push(`reward shapers ${d.shapers.join(', ')}`);
  if (d.participants?.length) parts.push(`update participants ${d.participants.join(', ')}`);
  const rewards = d.rewards.length ? d.rewards.map((r) => `${r.name}${weight(r.weight)}`).join(', ') : 'none';
  return `algorithm: ${parts.join(', ')}; rewards: ${rewards}`;
}
