/**
 * Reward functions run in a worker thread, where `rewards.timeoutMs` can be enforced on
 * synchronous code: when a call's signal fires (its timeout), the worker is terminated — which
 * stops even `for (;;) {}` — and a fresh one is started for the next call. Opt-in: the reward must
 * be loadable in a worker, by module and export name.
 */
import { pathToFileURL } from 'node:url';
import { isAbsolute, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { RewardFunction, RewardInput, RewardScore } from '../contracts/reward.js';
import { RewardError } from '../errors.js';

/** What `workerReward` runs: a reward loadable in a worker thread by module and export name. */
export interface WorkerRewardOptions {
  /** The reward's name (known before the worker has loaded anything). */
  name: string;
  /**
   * The module to import in the worker: a file path (absolute, or relative to the working
   * directory), a `file:` URL, or a package name (`@grpo/plugin-math-reward`).
   */
  module: string | URL;
  /**
   * The export to use (default `default`): a `RewardFunction`, or a factory that returns one (it
   * is called with `options` in the worker, e.g. `accuracyReward` of `@grpo/plugin-math-reward`).
   */
  export?: string;
  /** The factory's argument; it crosses to the worker by structured clone (plain data, no functions). */
  options?: unknown;
}

/** A reward that runs in a worker thread; `close()` stops the worker. */
export interface WorkerRewardFunction extends RewardFunction {
  /** Terminates the worker (a later call starts a new one). */
  close(): Promise<void>;
}

// Plain JavaScript that runs as the worker's own script whatever loader runs the trainer (tsx,
// vitest) and whether eval'd code is CommonJS or ESM there (`--input-type`): imports are dynamic.
const BOOTSTRAP = `
(async () => {
  const { parentPort, workerData } = await import('node:worker_threads');
  // tsx registers its loader on the main thread only: register it here too, so TypeScript sources load.
  if (workerData.tsx) (await import(workerData.tsx)).register();
  const describe = (e) => (e instanceof Error ? e.message || e.name : (() => { try { return JSON.stringify(e) ?? String(e); } catch { return String(e); } })() + ' (a thrown value that is not an Error)');
  const loaded = (async () => {
    const mod = await import(workerData.module);
    let value = mod[workerData.exportName];
    if (value === undefined) throw new Error('module ' + workerData.module + ' has no export ' + JSON.stringify(workerData.exportName));
    if (typeof value === 'function' && typeof value.score !== 'function') value = await value(workerData.options);
    if (!value || typeof value.score !== 'function')
      throw new Error('export ' + JSON.stringify(workerData.exportName) + ' of ' + workerData.module + ' is not a reward function (an object with score()) nor a factory of one');
    return value;
  })();
  loaded.catch(() => {});
  parentPort.on('message', async ({ id, input }) => {
    try {
      const reward = await loaded;
      const scores = await reward.score(input);
      parentPort.postMessage({ id, ok: true, scores });
    } catch (error) {
      parentPort.postMessage({ id, ok: false, message: describe(error) });
    }
  });
})();
`;

function specifier(module: string | URL): string {
  if (module instanceof URL) return module.href;
  if (module.startsWith('file:')) return module;
  if (isAbsolute(module) || module.startsWith('.')) return pathToFileURL(resolve(module)).href;
  return module;
}

/**
 * tsx's ESM API, when the trainer runs under tsx (`tsx grpo …`, `node --import tsx`): its loader
 * hooks are registered on the main thread only, and a worker must register them itself.
 */
function tsxApi(): string | undefined {
  const args = process.execArgv.join(' ');
  if (!/\btsx\b/.test(args)) return undefined;
  const loader = /(file:\/\/\S*?\/tsx\/dist\/)loader\.mjs/.exec(args);
  if (loader) return new URL('esm/api/index.mjs', loader[1]).href;
  try {
    return import.meta.resolve('tsx/esm/api');
  } catch {
    return undefined;
  }
}

interface Pending {
  worker: Worker;
  resolve: (scores: readonly RewardScore[]) => void;
  reject: (error: unknown) => void;
}

/**
 * A reward function that scores in a worker thread. The trainer's timeout then covers synchronous
 * rewards too: at `rewards.timeoutMs` the worker is terminated and the call counts as timed out
 * (`raise` or `penalty` as configured); the next call starts a new worker. The worker never keeps
 * the process alive once no call is in flight.
 *
 * ```ts
 * bind(RewardFunction).toConstantValue(
 *   workerReward({ name: 'accuracy', module: '@grpo/plugin-math-reward', export: 'accuracyReward' }),
 * );
 * ```
 *
 * Inputs and scores cross the thread boundary by structured clone (dataset rows must be plain
 * data). Each new worker loads the module again, so the first call after a timeout pays that.
 */
export function workerReward(options: WorkerRewardOptions): WorkerRewardFunction {
  const workerData = { module: specifier(options.module), exportName: options.export ?? 'default', options: options.options, tsx: tsxApi() };
  const pending = new Map<number, Pending>();
  let worker: Worker | undefined;
  let nextId = 0;

  const fail = (w: Worker, error: unknown) => {
    if (worker === w) worker = undefined;
    for (const [id, p] of pending)
      if (p.worker === w) {
        pending.delete(id);
        p.reject(error);
      }
  };
  const start = (): Worker => {
    const w = new Worker(BOOTSTRAP, { eval: true, workerData });
    w.unref();
    w.on('message', (message: { id: number; ok: boolean; scores?: readonly RewardScore[]; message?: string }) => {
      const p = pending.get(message.id);
      if (!p) return;
      pending.delete(message.id);
      if (![...pending.values()].some((other) => other.worker === w)) w.unref();
      if (message.ok) p.resolve(message.scores ?? []);
      else p.reject(new RewardError(message.message ?? 'failed in its worker'));
    });
    w.on('error', (error) => fail(w, new RewardError(`worker of reward '${options.name}' failed: ${error.message}`, { cause: error })));
    w.on('exit', (code) => fail(w, new RewardError(`worker of reward '${options.name}' exited (code ${code})`)));
    worker = w;
    return w;
  };

  return {
    name: options.name,
    score(input: RewardInput): Promise<readonly RewardScore[]> {
      const { signal, ...data } = input;
      if (signal?.aborted) return Promise.reject(signal.reason ?? new RewardError('aborted'));
      const w = worker ?? start();
      const id = nextId++;
      return new Promise<readonly RewardScore[]>((resolve, reject) => {
        const onAbort = () => {
          pending.delete(id);
          reject(signal?.reason ?? new RewardError('aborted'));
          // The only way to stop synchronous code: end the worker (the other calls on it fail too).
          if (worker === w) worker = undefined;
          void w.terminate();
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        pending.set(id, {
          worker: w,
          resolve: (scores) => {
            signal?.removeEventListener('abort', onAbort);
            resolve(scores);
          },
          reject: (error) => {
            signal?.removeEventListener('abort', onAbort);
            reject(error);
          },
        });
        w.ref();
        try {
          w.postMessage({ id, input: data });
        } catch (error) {
          pending.get(id)?.reject(new RewardError(`cannot send the input to the worker of reward '${options.name}': ${(error as Error).message}`));
          pending.delete(id);
        }
      });
    },
    async close() {
      const w = worker;
      worker = undefined;
      if (w) await w.terminate();
    },
  };
}
