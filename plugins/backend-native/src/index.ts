// @grpo/plugin-backend-native: tfjs's wasm backend with its matrix products on OpenBLAS, multi-threaded.
import { availableParallelism } from 'node:os';
import { BackendUnavailableError, definePlugin, field, TensorBackend } from '@grpo/core';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { loadAddon, type NativeAddon } from './addon.js';
import { NATIVE, registerNativeBackend } from './backend.js';

export { addonPath, buildLogPath, type NativeAddon } from './addon.js';

export const meta = { name: '@grpo/plugin-backend-native', version: '0.1.0', core: '^0.1.0' } as const;

export interface NativeBackendOptions {
  /** Threads of the addon's pool, the calling thread included (default: the number of CPU cores). */
  threads?: number;
  /**
   * When the addon cannot be loaded (not built: no C++ compiler or no OpenBLAS at install time),
   * print why once and run on `wasm` instead (default `true`); `false` throws a
   * `BackendUnavailableError` instead.
   */
  fallback?: boolean;
}

/** How to get the addon built, for messages. */
export const HOW_TO_BUILD =
  'To build it, install a C++ compiler and OpenBLAS (Debian/Ubuntu: `apt-get install -y build-essential python3 libopenblas-dev`) ' +
  'and run `npm rebuild @grpo/plugin-backend-native` (or `npm ci` again)';

/** The addon when it is built and loads, else `undefined` (see `nativeUnavailableReason`). */
export function nativeAddon(): NativeAddon | undefined {
  return loadAddon().addon;
}

/** Why the native backend cannot run here, or `undefined` when it can. */
export function nativeUnavailableReason(): string | undefined {
  return loadAddon().error;
}

/** The addon's threads, OpenBLAS build and CPU kernel set, when it is loaded. */
export function nativeInfo(): ReturnType<NativeAddon['info']> | undefined {
  return loadAddon().addon?.info();
}

let warned = false;

const FALLBACK_HINT = "Set `backend: 'wasm'` in your config (it needs no native library).";

async function activate(name: string): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (error) {
    throw new BackendUnavailableError(`The TensorFlow.js '${name}' backend failed to start: ${(error as Error).message}. ${FALLBACK_HINT}`, { cause: error });
  }
  if (!ok || tf.getBackend() !== name)
    throw new BackendUnavailableError(`The TensorFlow.js '${name}' backend failed to start (the active backend is '${tf.getBackend()}'). ${FALLBACK_HINT}`);
}

/**
 * Registers and activates the `native` backend (`name` must be `'native'`). When its addon cannot
 * be loaded it prints why and activates `wasm` instead, or, with `fallback: false`, throws a
 * `BackendUnavailableError` saying how to build it.
 */
export async function setupBackend(name = NATIVE, options: NativeBackendOptions = {}): Promise<void> {
  if (name !== NATIVE) throw new BackendUnavailableError(`@grpo/plugin-backend-native sets up the '${NATIVE}' backend, not '${name}'.`);
  const threads = options.threads ?? Math.max(1, availableParallelism());
  if (!Number.isInteger(threads) || threads < 1) throw new BackendUnavailableError(`native backend: threads must be an integer ≥ 1, got ${threads}.`);
  const { addon, error } = loadAddon();
  if (!addon) {
    const message = `The 'native' backend is not available: ${error}. ${HOW_TO_BUILD}`;
    if (options.fallback === false) throw new BackendUnavailableError(`${message}; or ${FALLBACK_HINT.replace(/^S/, 's')}`);
    if (!warned) {
      warned = true;
      // One line: the default backend is `native`, so a machine without the addon sees this on every run.
      console.warn(`${message}. Running on 'wasm' instead (slower; \`backend: 'wasm'\` in the config says so and silences this).`);
    }
    await activate('wasm');
    return;
  }
  addon.setThreads(threads);
  registerNativeBackend(addon);
  await activate(NATIVE);
}

/** core's `TensorBackend` for `backend: 'native'`. */
export class NativeBackend implements TensorBackend {
  readonly name = NATIVE;
  constructor(private readonly options: NativeBackendOptions = {}) {}
  setup(): Promise<void> {
    return setupBackend(NATIVE, this.options);
  }
}

/**
 * The native backend plugin: binds a `TensorBackend` named `native` (select it with
 * `backend: 'native'`). Nothing is loaded until the trainer calls its `setup()`.
 */
const backendNative = definePlugin({
  meta,
  options: z
    .strictObject({
      threads: field.int(1).optional().describe('Threads of the native kernels, the calling thread included (default: the number of CPU cores).'),
      fallback: z.boolean().optional().describe("Run on 'wasm' (with a warning) when the addon is not built (default true); false: fail instead."),
    })
    .prefault({}),
  register: ({ bind, options }) => void bind<TensorBackend>(TensorBackend).toConstantValue(new NativeBackend(options)),
});
export default backendNative;
