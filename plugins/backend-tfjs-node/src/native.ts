import { BackendUnavailableError } from '@grpo/core';
import * as tf from '@tensorflow/tfjs';

/** The tfjs backend name that @tensorflow/tfjs-node and -node-gpu register. */
export const TF_BACKEND_NAME = 'tensorflow';

/** The way out every native-backend error offers. */
export const ALTERNATIVE = "or set `backend: 'wasm'` in your config (it needs no native library).";

/**
 * Whether an import error says the package itself is missing (Node: `Cannot find package '…'`,
 * bundlers such as Vite: `Could not resolve "…"`), as opposed to a file inside it (e.g. its
 * native addon), which means it is installed but broken.
 */
export function isMissingPackage(error: unknown, pkg: string): boolean {
  const { message } = (error ?? {}) as { message?: unknown };
  if (typeof message !== 'string') return false;
  const names = message.includes(`'${pkg}'`) || message.includes(`"${pkg}"`);
  return names && /cannot find (package|module)|could not resolve|failed to resolve/i.test(message);
}

/** What differs between the native backends: the package and the words of their errors. */
export interface NativeBackendSpec {
  /** The optional package to import, e.g. `@tensorflow/tfjs-node`. */
  pkg: string;
  load: () => Promise<unknown>;
  /** The error when the package is not installed. */
  notInstalled: string;
  /** The error when it is installed but cannot load (given the loader's message). */
  cannotLoad: (message: string) => string;
  /** Appended to "failed to start" errors: what it needs and how to reinstall. */
  startHint: string;
}

/**
 * Imports a native tfjs package (which registers the `tensorflow` backend), activates it and
 * checks that it became the active backend; every failure is a `BackendUnavailableError` that
 * names the package and the fix.
 */
export async function activateNativeBackend(spec: NativeBackendSpec): Promise<void> {
  const { pkg } = spec;
  try {
    await spec.load();
  } catch (error) {
    if (isMissingPackage(error, pkg)) throw new BackendUnavailableError(spec.notInstalled, { cause: error });
    throw new BackendUnavailableError(spec.cannotLoad((error as Error).message), { cause: error });
  }
  if (!tf.findBackendFactory(TF_BACKEND_NAME)) {
    throw new BackendUnavailableError(
      `${pkg} loaded but did not register the '${TF_BACKEND_NAME}' backend with this copy of @tensorflow/tfjs ` +
        `(${tf.version_core}). Install matching versions: \`npm install ${pkg}@${tf.version_core} @tensorflow/tfjs@${tf.version_core}\`, ${ALTERNATIVE}`,
    );
  }
  let ok: boolean;
  try {
    ok = await tf.setBackend(TF_BACKEND_NAME);
    await tf.ready();
  } catch (error) {
    throw new BackendUnavailableError(`${pkg} failed to start: ${(error as Error).message}. ${spec.startHint}`, { cause: error });
  }
  if (!ok || tf.getBackend() !== TF_BACKEND_NAME) {
    throw new BackendUnavailableError(`${pkg} failed to start (the active backend is '${tf.getBackend()}'). ${spec.startHint}`);
  }
}
