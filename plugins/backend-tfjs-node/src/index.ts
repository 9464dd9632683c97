// @grpo/plugin-backend-tfjs-node: TensorFlow.js's native CPU backend (libtensorflow), loaded on demand.
import { BackendUnavailableError, definePlugin, field, TensorBackend } from '@grpo/core';
import { z } from 'zod';
import { activateNativeBackend, ALTERNATIVE } from './native.js';

export { activateNativeBackend, ALTERNATIVE, isMissingPackage, TF_BACKEND_NAME, type NativeBackendSpec } from './native.js';

export const meta = { name: '@grpo/plugin-backend-tfjs-node', version: '0.1.0', core: '^0.1.0' } as const;

/** The optional peer dependency this backend loads at setup time. */
export const PACKAGE = '@tensorflow/tfjs-node';
export interface TfjsNodeBackendOptions {
  /** Loads the package; defaults to `import('@tensorflow/tfjs-node')`. Override for bundlers (or tests). */
  load?: () => Promise<unknown>;
}

/**
 * Loads @tensorflow/tfjs-node (which registers the `tensorflow` backend), activates it and checks
 * that it became the active backend. `name` must be `'tfjs-node'`. Every failure is a
 * `BackendUnavailableError` that names the package and how to fix it.
 */
export async function setupBackend(name = 'tfjs-node', options: TfjsNodeBackendOptions = {}): Promise<void> {
  if (name !== 'tfjs-node') {
    throw new BackendUnavailableError(`@grpo/plugin-backend-tfjs-node sets up the 'tfjs-node' backend, not '${name}'.`);
  }
  await activateNativeBackend({
    pkg: PACKAGE,
    load: options.load ?? (() => import(/* @vite-ignore */ PACKAGE) as Promise<unknown>),
    notInstalled:
      `The 'tfjs-node' backend needs the optional package ${PACKAGE}, which is not installed. ` +
      `Install it with \`npm install ${PACKAGE}\` (its install script downloads libtensorflow, so it needs network access ` +
      `and Linux x64, macOS or Windows x64), ${ALTERNATIVE}`,
    cannotLoad: (message) =>
      `The 'tfjs-node' backend could not load ${PACKAGE}: ${message}. ` +
      `Its native library (libtensorflow) is probably missing because its install script could not download it: ` +
      `reinstall it with \`npm install ${PACKAGE}\` (or \`npm rebuild ${PACKAGE}\`) with network access, ${ALTERNATIVE}`,
    startHint: `Reinstall it with \`npm install ${PACKAGE}\`, ${ALTERNATIVE}`,
  });
}

/** core's `TensorBackend` for `backend: 'tfjs-node'`. */
export class TfjsNodeBackend implements TensorBackend {
  readonly name = 'tfjs-node';
  constructor(private readonly options: TfjsNodeBackendOptions = {}) {}
  setup(): Promise<void> {
    return setupBackend('tfjs-node', this.options);
  }
}

/**
 * The tfjs-node backend plugin: binds a `TensorBackend` named `tfjs-node` (select it with
 * `backend: 'tfjs-node'`). Nothing is loaded until the trainer calls its `setup()`.
 */
const backendTfjsNode = definePlugin({
  meta,
  options: z
    .strictObject({
      load: field.fn<() => Promise<unknown>>().optional().describe("Loads the package (default: `import('@tensorflow/tfjs-node')`); for bundlers and tests."),
    })
    .prefault({}),
  register: ({ bind, options }) => void bind<TensorBackend>(TensorBackend).toConstantValue(new TfjsNodeBackend(options)),
});
export default backendTfjsNode;
