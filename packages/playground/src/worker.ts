/**
 * The training worker: holds the session (policy, trainer) and runs GRPO steps off the page's
 * thread, so the page stays responsive. The tfjs wasm binaries are the page's assets.
 */
import { errorMessage, RewardError, type PluginEntry, type RewardFunction, type TensorBackend as TensorBackendType } from '@grpo/core';
import { taskAccuracy } from '@grpo/plugin-math-task';
import { definePlugin, TensorBackend } from '@grpo/core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import * as tf from '@tensorflow/tfjs';
import { loadCheckpoint } from './checkpoint.js';
import type { FromWorker, ToWorker } from './protocol.js';
import { sandboxedReward } from './reward-sandbox.js';
import { Session } from './session.js';

interface WorkerScope {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
}
const scope = self as unknown as WorkerScope;
const post = (message: FromWorker, transfer?: Transferable[]) => scope.postMessage(message, transfer);

setWasmPaths({ 'tfjs-backend-wasm.wasm': wasmPlain, 'tfjs-backend-wasm-simd.wasm': wasmSimd, 'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded });

/** tfjs's WebGL backend as a `TensorBackend` named `webgl` (OffscreenCanvas in the worker), chosen by `backend: 'webgl'` like any other. */
const backendWebgl = definePlugin({
  meta: { name: 'playground-webgl', version: '0.0.0', core: '^0.1.0' },
  register({ bind }) {
    bind<TensorBackendType>(TensorBackend).toConstantValue({
      name: 'webgl',
      async setup() {
        if (!(await tf.setBackend('webgl')) || tf.getBackend() !== 'webgl') throw new Error('WebGL is not available in this browser; choose wasm');
        await tf.ready();
      },
    });
  },
});

let session: Session | undefined;
/** The page's reward when it set one; the task's own (`task_accuracy`) otherwise. */
let pageReward: ReturnType<typeof sandboxedReward> | undefined;
const builtin = taskAccuracy();
/** The session's reward: whichever is current, so the page can change it between steps without a reset. */
const reward: RewardFunction = { name: 'custom', score: (input) => (pageReward ?? builtin).score(input) };
let remaining = 0;
let running = false;
/** Resets wait for the step in progress, so a session is never disposed under it. */
let busy: Promise<void> = Promise.resolve();

async function reset(message: Extract<ToWorker, { type: 'reset' }>): Promise<void> {
  remaining = 0;
  await busy;
  session?.dispose();
  session = undefined;
  const plugins: PluginEntry[] = [backendWebgl()];
  try {
    session = await Session.create({ files: await loadCheckpoint(), settings: message.settings, reward, plugins });
    post({ type: 'ready', backend: tf.getBackend() });
  } catch (error) {
    post({ type: 'error', message: errorMessage(error), where: 'setup' });
  }
}

async function setReward(id: number, code: string | null): Promise<void> {
  await busy;
  const next = code === null ? undefined : sandboxedReward(code, () => new Worker(new URL('./reward-worker.ts', import.meta.url), { type: 'module' }));
  try {
    // A trial on an empty batch: the module loads and exports a function.
    await next?.score({ prompts: [], completions: [], completionIds: [], finishReasons: [], rows: [] });
  } catch (error) {
    next?.close();
    return post({ type: 'reward', id, error: errorMessage(error) });
  }
  pageReward?.close();
  pageReward = next;
  post({ type: 'reward', id, error: null });
}

async function run(): Promise<void> {
  if (running) return;
  running = true;
  try {
    while (remaining > 0 && session) {
      remaining--;
      const current = session;
      let done!: () => void;
      busy = new Promise((resolve) => (done = resolve));
      try {
        post({ type: 'step', view: await current.step() });
      } catch (error) {
        remaining = 0;
        post({ type: 'error', message: errorMessage(error), where: error instanceof RewardError ? 'reward' : 'step' });
      } finally {
        done();
      }
    }
  } finally {
    running = false;
    post({ type: 'idle', step: session?.trainer.step ?? 0 });
  }
}

let queue: Promise<void> = Promise.resolve();
scope.onmessage = (event) => {
  const message = event.data;
  if (message.type === 'pause') {
    remaining = 0;
    return;
  }
  if (message.type === 'run') {
    remaining = message.steps;
    void run();
    return;
  }
  // Resets and queries run one after another, between steps.
  queue = queue.then(async () => {
    if (message.type === 'reset') return reset(message);
    if (message.type === 'reward') return setReward(message.id, message.code);
    await busy;
    if (!session) return post({ type: 'error', message: 'the policy is not loaded yet', where: 'setup' });
    if (message.type === 'logprobs') return post({ type: 'logprobs', id: message.id, values: session.nextTokenLogProbs(message.prompt) });
    const files = Object.fromEntries(Object.entries(await session.files()).map(([name, c]) => [name, typeof c === 'string' ? new TextEncoder().encode(c) : c]));
    post({ type: 'files', id: message.id, files });
  });
};
