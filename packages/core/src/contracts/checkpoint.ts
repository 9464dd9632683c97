import type { TrainerState } from '../records.js';

export const Checkpointer = Symbol.for('grpo.Checkpointer');
/** Saves and restores whole training state; a checkpoint becomes "latest" only once fully written. */
export interface Checkpointer {
  save(state: TrainerState): Promise<string>;
  /** Directory of the newest complete checkpoint under the output directory, if any. */
  latest(): Promise<string | undefined>;
}
