import type { TrainerState } from '../records.js';
import type { FrozenPolicy, Policy } from './policy.js';
import type { Stateful } from './state.js';

/** Optimizer moments as plain arrays, keyed `m/<i>` and `v/<i>` by variable position. */
export interface OptimizerState {
  step: number;
  tensors: Record<string, { shape: number[]; data: Float32Array }>;
}

/** What a checkpoint captures of a training run. */
export interface Checkpointable {
  readonly policy: Policy;
  readonly reference: FrozenPolicy | undefined;
  /** Parts with state of their own (hooks, update participants), each saved in its own directory. */
  readonly components: readonly Stateful[];
  getState(): TrainerState;
  setState(state: TrainerState): void;
  getOptimizerState(): OptimizerState;
  setOptimizerState(state: OptimizerState): void;
}

export const Checkpointer = Symbol.for('grpo.Checkpointer');
/** Saves and restores whole training runs; a checkpoint becomes "latest" only once fully written. */
export interface Checkpointer {
  /** Writes policy, reference, optimizer, RNG and step; returns the checkpoint directory. */
  save(run: Checkpointable): Promise<string>;
  /** Directory of the newest complete checkpoint, if any. */
  latest(): Promise<string | undefined>;
  /** Restores a run from a checkpoint directory (validated); returns the restored state. */
  restore(dir: string, run: Checkpointable): Promise<TrainerState>;
}
