// @grpo/plugin-backend-cpu: TensorFlow.js's pure-JavaScript CPU backend (slow, but runs anywhere).
import { BackendUnavailableError, definePlugin, TensorBackend } from '@grpo/core';
import * as tf from '@tensorflow/tfjs';
// Importing the package registers the `cpu` backend with tfjs.
import '@tensorflow/tfjs-backend-cpu';

export const meta = { name: '@grpo/plugin-backend-cpu', version: '0.1.0', core: '^0.1.0' } as const;

const FIX = "Reinstall the dependencies (`npm install`), or set `backend: 'wasm'`.";

/**
 * Registers and activates the cpu backend (`name` must be `'cpu'`), checking that it became the
 * active backend. Throws a `BackendUnavailableError` when it cannot start.
 */
export async function setupBackend(name = 'cpu'): Promise<void> {
  if (name !== 'cpu') throw new BackendUnavailableError(`@grpo/plugin-backend-cpu sets up the 'cpu' backend, not '${name}'.`);
  let ok: boolean;
  try {
    ok = await tf.setBackend('cpu');
    await tf.ready();
  } catch (error) {
    throw new BackendUnavailableError(`The TensorFlow.js 'cpu' backend failed to start: ${(error as Error).message}. ${FIX}`, { cause: error });
  }
  if (!ok || tf.getBackend() !== 'cpu') {
    throw new BackendUnavailableError(`The TensorFlow.js 'cpu' backend failed to start (the active backend is '${tf.getBackend()}'). ${FIX}`);
  }
}

/** core's `TensorBackend` for `backend: 'cpu'`. */
export class CpuBackend implements TensorBackend {
  readonly name = 'cpu';
  setup(): Promise<void> {
    return setupBackend('cpu');
  }
}

/** The cpu backend plugin: binds a `TensorBackend` named `cpu` (select it with `backend: 'cpu'`). */
const backendCpu = definePlugin({
  meta,
  register: ({ bind }) => void bind<TensorBackend>(TensorBackend).toConstantValue(new CpuBackend()),
});
export default backendCpu;
