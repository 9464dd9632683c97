/**
 * Runs the page's reward function (compiled JavaScript, a module whose default export is
 * `(input: RewardInput) => (number | null)[]`) on the batches it is sent. Its own worker, so the
 * training worker can stop it when it takes too long.
 */
import type { RewardInput, RewardScore } from '@grpo/core';
import type { RewardReply } from './reward-sandbox.js';

interface WorkerScope {
  onmessage: ((event: MessageEvent<{ type: 'load'; code: string } | { type: 'score'; input: RewardInput }>) => void) | null;
  postMessage(message: RewardReply): void;
}
const scope = self as unknown as WorkerScope;

let reward: Promise<(input: RewardInput) => unknown> | undefined;

scope.onmessage = (event) => {
  const message = event.data;
  if (message.type === 'load') {
    const url = URL.createObjectURL(new Blob([message.code], { type: 'text/javascript' }));
    reward = import(/* @vite-ignore */ url).then((module: { default?: unknown }) => {
      if (typeof module.default !== 'function') throw new Error('the module must `export default` a function (input) => scores');
      return module.default as (input: RewardInput) => unknown;
    });
    return;
  }
  void (async () => {
    try {
      if (!reward) throw new Error('no reward function loaded');
      const scores = await (await reward)(message.input);
      if (!Array.isArray(scores) || scores.length !== message.input.completions.length)
        throw new Error(
          `expected an array of ${message.input.completions.length} scores (one per completion), got ${Array.isArray(scores) ? `${scores.length}` : typeof scores}`,
        );
      scope.postMessage({ ok: true, scores: scores as RewardScore[] });
    } catch (error) {
      scope.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) });
    }
  })();
};
