/**
 * A part of a run with state of its own that must survive a resume (a reward model trained during
 * RL, PPO's critic). The checkpointer gives it an empty directory inside the checkpoint being
 * written (visible only once everything is written) and the same directory back on resume.
 * Parts with state need distinct names.
 */
export interface Stateful {
  readonly name: string;
  saveState?(dir: string): Promise<void>;
  loadState?(dir: string): Promise<void>;
}
