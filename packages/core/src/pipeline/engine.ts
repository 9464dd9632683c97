/**
 * Calls into a rollout engine that can hang or fail (a server, a native library), each bounded
 * and failing loudly with the engine's name and its own error: a weight sync that never returns
 * is the commonest complaint about external engines (trl#2923).
 */
import type { Policy } from '../contracts/policy.js';
import type { RolloutEngine } from '../contracts/rollout.js';
import { EngineError, errorMessage } from '../errors.js';

/**
 * Runs the engine's `syncWeights` under a timeout; returns the seconds it took (0 when the engine
 * needs no sync). On timeout the engine's signal is aborted and an `EngineError` says which
 * engine, how long, and what to do; an engine's own failure is wrapped with its message.
 */
export async function syncEngineWeights(engine: RolloutEngine, policy: Policy, timeoutSeconds: number): Promise<number> {
  if (!engine.syncWeights) return 0;
  const started = performance.now();
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Rejected before the abort, so an engine that stops (and resolves) on the signal still reads as timed out.
      reject(
        new EngineError(
          `rollout engine '${engine.name}' did not finish syncing weights within ${timeoutSeconds} s (generation.syncTimeoutSeconds); ` +
            'check that the engine is running and reachable, or raise the timeout for large models',
        ),
      );
      controller.abort();
    }, timeoutSeconds * 1000);
  });
  try {
    await Promise.race([engine.syncWeights(policy, { signal: controller.signal }), timeout]);
  } catch (error) {
    if (error instanceof EngineError) throw error;
    throw new EngineError(`rollout engine '${engine.name}' failed to sync weights: ${errorMessage(error)}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
  return (performance.now() - started) / 1000;
}

/** Asks the engine whether it can serve; throws an `EngineError` with its answer when it cannot (or when asking throws). */
export async function checkEngineHealth(engine: RolloutEngine): Promise<void> {
  if (!engine.health) return;
  let health;
  try {
    health = await engine.health();
  } catch (error) {
    throw new EngineError(`rollout engine '${engine.name}' failed its health check: ${errorMessage(error)}`, { cause: error });
  }
  if (!health.ok) throw new EngineError(`rollout engine '${engine.name}' is not healthy${health.detail ? `: ${health.detail}` : ''}`);
}
