/**
 * The page's reward function, run where it cannot hang training: each call goes to a worker of
 * its own (reward-worker.ts) and is abandoned after a timeout, the worker then stopped and
 * replaced. A reward that loops forever thus fails its step with a message instead of freezing it.
 */
import { RewardError, type RewardFunction, type RewardInput, type RewardScore } from '@grpo/core';

export const REWARD_TIMEOUT_MS = 5_000;

/** What the reward worker answers for one batch. */
export type RewardReply = { ok: true; scores: RewardScore[] } | { ok: false; message: string };

/** A `RewardFunction` that runs compiled JavaScript (`export default function reward(input) {…}`) in a worker. */
export function sandboxedReward(code: string, makeWorker: () => Worker, timeoutMs = REWARD_TIMEOUT_MS): RewardFunction & { close(): void } {
  let worker: Worker | undefined;
  const start = () => {
    const w = makeWorker();
    w.postMessage({ type: 'load', code });
    return w;
  };
  return {
    name: 'custom',
    score(input: RewardInput): Promise<RewardScore[]> {
      worker ??= start();
      const w = worker;
      const { prompts, completions, completionIds, finishReasons, rows } = input;
      return new Promise<RewardScore[]>((resolve, reject) => {
        const timer = setTimeout(() => {
          w.terminate();
          if (worker === w) worker = undefined;
          reject(new RewardError(`the reward function did not return within ${timeoutMs / 1000} s (an endless loop?); it was stopped`));
        }, timeoutMs);
        w.onmessage = (event: MessageEvent<RewardReply>) => {
          clearTimeout(timer);
          if (event.data.ok) resolve(event.data.scores);
          else reject(new RewardError(`the reward function failed: ${event.data.message}`));
        };
        w.postMessage({ type: 'score', input: { prompts, completions, completionIds, finishReasons, rows } });
      });
    },
    close() {
      worker?.terminate();
      worker = undefined;
    },
  };
}
