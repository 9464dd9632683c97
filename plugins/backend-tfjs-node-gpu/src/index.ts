// @grpo/plugin-backend-tfjs-node-gpu: TensorFlow.js's CUDA backend (libtensorflow GPU), loaded on demand.
import { BackendUnavailableError, definePlugin, field, TensorBackend } from '@grpo/core';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { activateNativeBackend, ALTERNATIVE, TF_BACKEND_NAME } from '@grpo/plugin-backend-tfjs-node';

export { TF_BACKEND_NAME };

export const meta = { name: '@grpo/plugin-backend-tfjs-node-gpu', version: '0.1.0', core: '^0.1.0' } as const;

/** The optional peer dependency this backend loads at setup time. */
export const PACKAGE = '@tensorflow/tfjs-node-gpu';
/** What libtensorflow 2.9 (used by tfjs-node-gpu 4.x) needs. */
export const REQUIREMENTS = 'Linux x64 with an NVIDIA GPU, CUDA 11.2 and cuDNN 8.1';

export interface TfjsNodeGpuBackendOptions {
  /** Loads the package; defaults to `import('@tensorflow/tfjs-node-gpu')`. Override for bundlers (or tests). */
  load?: () => Promise<unknown>;
  /** Fail when TensorFlow starts but sees no GPU (it would silently run on the CPU). Default true. */
  requireGpu?: boolean;
  /** Platform to check (default `process.platform` / `process.arch`); for tests. */
  platform?: { os: string; arch: string };
}

/**
 * Loads @tensorflow/tfjs-node-gpu (which registers the `tensorflow` backend), activates it and
 * checks that it became the active backend and, unless `requireGpu: false`, that TensorFlow uses a
 * GPU. `name` must be `'tfjs-node-gpu'`. Every failure is a `BackendUnavailableError` naming the
 * package, its requirements and the fix.
 */
export async function setupBackend(name = 'tfjs-node-gpu', options: TfjsNodeGpuBackendOptions = {}): Promise<void> {
  if (name !== 'tfjs-node-gpu') {
    throw new BackendUnavailableError(`@grpo/plugin-backend-tfjs-node-gpu sets up the 'tfjs-node-gpu' backend, not '${name}'.`);
  }
  const platform = options.platform ?? { os: process.platform, arch: process.arch };
  if (platform.os !== 'linux' || platform.arch !== 'x64') {
    throw new BackendUnavailableError(
      `The 'tfjs-node-gpu' backend (${PACKAGE}) only runs on ${REQUIREMENTS}; this is ${platform.os} ${platform.arch}. ` +
        `Use \`backend: 'tfjs-node'\` (npm install @tensorflow/tfjs-node) for native CPU speed, ${ALTERNATIVE}`,
    );
  }
  await activateNativeBackend({
    pkg: PACKAGE,
    load: options.load ?? (() => import(/* @vite-ignore */ PACKAGE) as Promise<unknown>),
    notInstalled:
      `The 'tfjs-node-gpu' backend needs the optional package ${PACKAGE}, which is not installed. ` +
      `Install it with \`npm install ${PACKAGE}\` on ${REQUIREMENTS} (its install script downloads libtensorflow with GPU support, ` +
      `so it needs network access), ${ALTERNATIVE}`,
    cannotLoad: (message) =>
      `The 'tfjs-node-gpu' backend could not load ${PACKAGE}: ${message}. ` +
      `It needs ${REQUIREMENTS} (libcudart.so.11.0 and libcudnn.so.8 on the library path) and its native library ` +
      `libtensorflow, which its install script downloads: install CUDA 11.2 and cuDNN 8.1, then reinstall with ` +
      `\`npm install ${PACKAGE}\` (or \`npm rebuild ${PACKAGE}\`), ${ALTERNATIVE}`,
    startHint: `It needs ${REQUIREMENTS}; reinstall with \`npm install ${PACKAGE}\`, ${ALTERNATIVE}`,
  });
  const usesGpu = (tf.backend() as { isUsingGpuDevice?: unknown }).isUsingGpuDevice;
  if ((options.requireGpu ?? true) && usesGpu === false) {
    throw new BackendUnavailableError(
      `${PACKAGE} started, but TensorFlow found no usable GPU and would run on the CPU. It needs ${REQUIREMENTS} ` +
        `(check \`nvidia-smi\` and that libcudart.so.11.0 and libcudnn.so.8 are on LD_LIBRARY_PATH). ` +
        `Pass { requireGpu: false } to accept the CPU, use \`backend: 'tfjs-node'\`, ${ALTERNATIVE}`,
    );
  }
}

/** core's `TensorBackend` for `backend: 'tfjs-node-gpu'`. */
export class TfjsNodeGpuBackend implements TensorBackend {
  readonly name = 'tfjs-node-gpu';
  constructor(private readonly options: TfjsNodeGpuBackendOptions = {}) {}
  setup(): Promise<void> {
    return setupBackend('tfjs-node-gpu', this.options);
  }
}

/**
 * The tfjs-node-gpu backend plugin: binds a `TensorBackend` named `tfjs-node-gpu` (select it with
 * `backend: 'tfjs-node-gpu'`). Nothing is loaded until the trainer calls its `setup()`.
 */
const backendTfjsNodeGpu = definePlugin({
  meta,
  options: z
    .strictObject({
      load: field
        .fn<() => Promise<unknown>>()
        .optional()
        .describe("Loads the package (default: `import('@tensorflow/tfjs-node-gpu')`); for bundlers and tests."),
      requireGpu: z.boolean().optional().describe('Fail when TensorFlow starts but sees no GPU (default true).'),
      platform: z.strictObject({ os: z.string(), arch: z.string() }).optional().describe('Platform to check (default: this process’s); for tests.'),
    })
    .prefault({}),
  register: ({ bind, options }) => void bind<TensorBackend>(TensorBackend).toConstantValue(new TfjsNodeGpuBackend(options)),
});
export default backendTfjsNodeGpu;
