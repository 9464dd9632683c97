// @grpo/plugin-backend-wasm: TensorFlow.js's WebAssembly backend: runs anywhere Node runs and gives the same numbers bit for bit everywhere.
import { availableParallelism } from '#node-io';
import { BackendUnavailableError, definePlugin, field, TensorBackend } from '@grpo/core';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
// Importing the package registers the `wasm` backend with tfjs.
import { getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

export const meta = { name: '@grpo/plugin-backend-wasm', version: '0.1.0', core: '^0.1.0' } as const;

export interface WasmBackendOptions {
  /**
   * XNNPACK threads for the multi-threaded wasm binary (default: the number of CPU cores). tfjs
   * only uses that binary where SharedArrayBuffer and workers are available to it (browsers with
   * cross-origin isolation); in Node it runs the single-threaded SIMD binary and this is ignored.
   */
  threads?: number;
}

const FIX = "Reinstall the dependencies (`npm install`) so that @tensorflow/tfjs-backend-wasm's .wasm files are present, or set `backend: 'cpu'`.";

/** Activates a registered tfjs backend and checks that it really became the active one. */
async function activate(tfName: string, fix: string): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(tfName);
    await tf.ready();
  } catch (error) {
    throw new BackendUnavailableError(`The TensorFlow.js '${tfName}' backend failed to start: ${(error as Error).message}. ${fix}`, {
      cause: error,
    });
  }
  if (!ok || tf.getBackend() !== tfName) {
    throw new BackendUnavailableError(`The TensorFlow.js '${tfName}' backend failed to start (the active backend is '${tf.getBackend()}'). ${fix}`);
  }
}

/**
 * Registers and activates the wasm backend (`name` must be `'wasm'`), setting the thread count
 * first. Throws a `BackendUnavailableError` saying how to fix it when the backend cannot start.
 */
export async function setupBackend(name = 'wasm', options: WasmBackendOptions = {}): Promise<void> {
  if (name !== 'wasm') throw new BackendUnavailableError(`@grpo/plugin-backend-wasm sets up the 'wasm' backend, not '${name}'.`);
  const threads = options.threads ?? Math.max(1, availableParallelism());
  if (!Number.isInteger(threads) || threads < 1) throw new BackendUnavailableError(`wasm backend: threads must be an integer ≥ 1, got ${threads}.`);
  setThreadsCount(threads);
  await activate('wasm', FIX);
}

/** Threads XNNPACK actually uses (1 in Node; see `WasmBackendOptions.threads`). Valid after setup. */
export function wasmThreads(): number {
  return getThreadsCount();
}

/** core's `TensorBackend` for `backend: 'wasm'`. */
export class WasmBackend implements TensorBackend {
  readonly name = 'wasm';
  constructor(private readonly options: WasmBackendOptions = {}) {}
  setup(): Promise<void> {
    return setupBackend('wasm', this.options);
  }
}

/** The wasm backend plugin: binds a `TensorBackend` named `wasm` (select it with `backend: 'wasm'`). */
const backendWasm = definePlugin({
  meta,
  options: z
    .strictObject({
      threads: field
        .int(1)
        .optional()
        .describe('XNNPACK threads of the multi-threaded wasm binary (browsers with cross-origin isolation); Node runs the single-threaded binary.'),
    })
    .prefault({}),
  register: ({ bind, options }) => void bind<TensorBackend>(TensorBackend).toConstantValue(new WasmBackend(options)),
});
export default backendWasm;
