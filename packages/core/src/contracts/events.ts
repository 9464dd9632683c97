import type { ScoredGroup, StepSummary } from '../records.js';

/** A step's scored samples: the groups the update uses, with the rendered prompt of each group. */
export interface RolloutsEvent {
  step: number;
  prompts: readonly string[];
  groups: readonly ScoredGroup[];
}

/** Hooks plugins can implement to observe or extend training. All are optional and may be async. */
export const TrainerHook = Symbol.for('grpo.TrainerHook');
export interface TrainerHook {
  readonly name: string;
  onTrainStart?(event: { step: number; totalSteps: number }): void | Promise<void>;
  onStepStart?(event: { step: number }): void | Promise<void>;
  /** After the step's samples are scored (and filtered), before the update: e.g. to collect them for a reward model. */
  onRollouts?(event: RolloutsEvent): void | Promise<void>;
  onStepEnd?(event: StepSummary): void | Promise<void>;
  onEval?(event: { step: number; metrics: Readonly<Record<string, number>> }): void | Promise<void>;
  onCheckpoint?(event: { step: number; dir: string }): void | Promise<void>;
  onTrainEnd?(event: { step: number }): void | Promise<void>;
  /**
   * State of its own that must survive a resume (e.g. a reward model trained during RL). The
   * checkpointer calls it with an empty directory inside the checkpoint being written (it becomes
   * visible only once everything is written); `loadState` gets the same directory back on resume.
   * Hooks with state need distinct names.
   */
  saveState?(dir: string): Promise<void>;
  loadState?(dir: string): Promise<void>;
}
