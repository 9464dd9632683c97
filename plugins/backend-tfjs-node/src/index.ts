// @grpo/plugin-backend-tfjs-node: TensorFlow.js's native CPU backend (libtensorflow), loaded on demand.
import { BackendUnavailableError, TensorBackend, type GrpoPlugin } from '@grpo/core';
import * as tf from '@tensorflow/tfjs';
import { ContainerModule } from 'inversify';

export const meta = { name: '@grpo/plugin-backend-tfjs-node', version: '0.1.0', core: '^0.1.0' } as const;

/** The optional peer dependency this backend loads at setup time. */
export const PACKAGE = '@tensorflow/tfjs-node';
/** The tfjs backend name that @tensorflow/tfjs-node registers. */
export const TF_BACKEND_NAME = 'tensorflow';

export interface TfjsNodeBackendOptions {
  /** Loads the package; defaults to `import('@tensorflow/tfjs-node')`. Override for bundlers (or tests). */
  load?: () => Promise<unknown>;
}

const ALTERNATIVE = "or set `backend: 'wasm'` in your config (the default; it needs no native library).";

/**
 * Whether an import error says the package itself is missing (Node: `Cannot find package '…'`,
 * bundlers such as Vite: `Could not resolve "…"`), as opposed to a file inside it (e.g. its
 * native addon), which means it is installed but broken.
 */
function isMissingPackage(error: unknown, pkg: string): boolean {
  const { message } = (error ?? {}) as { message?: unknown };
  if (typeof message !== 'string') return false;
  const names = message.includes(`'${pkg}'`) || message.includes(`"${pkg}"`);
  return names && /cannot find (package|module)|could not resolve|failed to resolve/i.test(message);
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
  const load = options.load ?? (() => import(/* @vite-ignore */ PACKAGE) as Promise<unknown>);
  try {
    await load();
  } catch (error) {
    if (isMissingPackage(error, PACKAGE)) {
      throw new BackendUnavailableError(
        `The 'tfjs-node' backend needs the optional package ${PACKAGE}, which is not installed. ` +
          `Install it with \`npm install ${PACKAGE}\` (its install script downloads libtensorflow, so it needs network access ` +
          `and Linux x64, macOS or Windows x64), ${ALTERNATIVE}`,
        { cause: error },
      );
    }
    throw new BackendUnavailableError(
      `The 'tfjs-node' backend could not load ${PACKAGE}: ${(error as Error).message}. ` +
        `Its native library (libtensorflow) is probably missing because its install script could not download it: ` +
        `reinstall it with \`npm install ${PACKAGE}\` (or \`npm rebuild ${PACKAGE}\`) with network access, ${ALTERNATIVE}`,
      { cause: error },
    );
  }
  if (!tf.findBackendFactory(TF_BACKEND_NAME)) {
    throw new BackendUnavailableError(
      `${PACKAGE} loaded but did not register the '${TF_BACKEND_NAME}' backend with this copy of @tensorflow/tfjs ` +
        `(${tf.version_core}). Install matching versions: \`npm install ${PACKAGE}@${tf.version_core} @tensorflow/tfjs@${tf.version_core}\`, ${ALTERNATIVE}`,
    );
  }
  let ok: boolean;
  try {
    ok = await tf.setBackend(TF_BACKEND_NAME);
    await tf.ready();
  } catch (error) {
    throw new BackendUnavailableError(`${PACKAGE} failed to start: ${(error as Error).message}. Reinstall it with \`npm install ${PACKAGE}\`, ${ALTERNATIVE}`, {
      cause: error,
    });
  }
  if (!ok || tf.getBackend() !== TF_BACKEND_NAME) {
    throw new BackendUnavailableError(
      `${PACKAGE} failed to start (the active backend is '${tf.getBackend()}'). Reinstall it with \`npm install ${PACKAGE}\`, ${ALTERNATIVE}`,
    );
  }
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
export default function backendTfjsNode(options: TfjsNodeBackendOptions = {}): GrpoPlugin {
  return {
    meta,
    module: new ContainerModule(({ bind }) => {
      bind<TensorBackend>(TensorBackend).toConstantValue(new TfjsNodeBackend(options));
    }),
  };
}
