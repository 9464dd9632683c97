import type { ScoredGroup, StepSummary } from '../records.js';
import type { Stateful } from './state.js';

/** A step's scored samples: the groups the update uses (each with its rendered prompt). */
export interface RolloutsEvent {
  step: number;
  groups: readonly ScoredGroup[];
}

/** Hooks plugins can implement to observe or extend training. All are optional and may be async. */
export const TrainerHook = Symbol.for('grpo.TrainerHook');
export interface TrainerHook extends Stateful {
  onTrainStart?(event: { step: number; totalSteps: number }): void | Promise<void>;
  onStepStart?(event: { step: number }): void | Promise<void>;
  /** After the step's samples are scored (and filtered), before the update: e.g. to collect them for a reward model. */
  onRollouts?(event: RolloutsEvent): void | Promise<void>;
  onStepEnd?(event: StepSummary): void | Promise<void>;
  onEval?(event: { step: number; metrics: Readonly<Record<string, number>> }): void | Promise<void>;
  onCheckpoint?(event: { step: number; dir: string }): void | Promise<void>;
  onTrainEnd?(event: { step: number }): void | Promise<void>;
}
