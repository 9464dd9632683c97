/**
 * Process-level error handling of the `grpo` executable (`bin.ts`): errors no command caught —
 * thrown from a timer or callback (a reward's `setTimeout`), or promises nobody awaited — are
 * printed readably first (the wasm backend's own handler would rethrow them with tens of KB of
 * its minified source before the message), and a training run stops after the step in flight and
 * saves a checkpoint, as on Ctrl-C. When the command is done the process exits even if a plugin
 * left work running (a reward that ignores its abort signal).
 */
import { errorMessage, GrpoError } from '@grpo/core';

type Write = (text: string) => void;

let write: Write = (text) => void process.stderr.write(text);
const fatal: unknown[] = [];
let stopper: (() => void) | undefined;

/** How long the process may linger after the command finished before it is ended. */
export const EXIT_GRACE_MS = 2000;

function stackLines(error: unknown): string {
  if (!(error instanceof Error) || error instanceof GrpoError || !error.stack) return '';
  const frames = error.stack
    .split('\n')
    .filter((line) => /^\s+at /.test(line))
    .slice(0, 8)
    .map((line) => (line.length > 200 ? `${line.slice(0, 200)}…` : line));
  return frames.length ? `${frames.join('\n')}\n` : '';
}

function onFatal(kind: string, error: unknown): void {
  fatal.push(error);
  const message = errorMessage(error);
  write(
    `grpo: ${kind} (thrown outside the code that awaited it, e.g. from a reward's timer): ${message.length > 2000 ? `${message.slice(0, 2000)}…` : message}\n`,
  );
  write(stackLines(error));
  if (fatal.length === 1 && stopper) {
    write('grpo: stopping after the step in flight and saving a checkpoint\n');
    stopper();
    return;
  }
  process.exit(1);
}

/** Installs the handlers (once, from `bin.ts`); `err` is where messages go. */
export function installProcessHandlers(err?: Write): void {
  if (err) write = err;
  // Replaces the 'uncaughtException' event (and so the wasm backend's handler, which rethrows).
  process.setUncaughtExceptionCaptureCallback((error) => onFatal('uncaught exception', error));
  process.on('unhandledRejection', (reason) => onFatal('unhandled promise rejection', reason));
}

/**
 * While a run can stop cleanly, an uncaught error calls `stop` (e.g. abort the training loop so it
 * saves a checkpoint) instead of exiting at once; a second one exits. Returns the unregistration.
 */
export function stopOnFatalError(stop: () => void): () => void {
  stopper = stop;
  return () => {
    if (stopper === stop) stopper = undefined;
  };
}

/** The exit code once the command returned `code`: at least 1 after an uncaught error. */
export function finalExitCode(code: number): number {
  return fatal.length > 0 ? Math.max(1, code) : code;
}

/**
 * Sets the exit code and lets the process end on its own; if something still holds it open
 * after `EXIT_GRACE_MS` (a reward that ignored its abort signal, a socket a plugin left open), it
 * says so and exits.
 */
export function exitWhenDone(code: number): void {
  process.exitCode = code;
  setTimeout(() => {
    write('grpo: exiting although work is still pending (a plugin left a timer, socket or call running after the command finished)\n');
    process.exit(code);
  }, EXIT_GRACE_MS).unref();
}
