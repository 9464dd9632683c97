/** Sets up a TensorFlow.js backend (wasm, cpu, tfjs-node, tfjs-node-gpu) before any tensor is made. */
export const TensorBackend = Symbol.for('grpo.TensorBackend');
export interface TensorBackend {
  /** The tfjs backend name this sets up, e.g. `wasm`. */
  readonly name: string;
  /** Registers and activates the backend; throws a `BackendUnavailableError` explaining how to fix it. */
  setup(): Promise<void>;
}
