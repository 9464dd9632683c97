import type { StepSummary } from '../records.js';

/** Hooks plugins can implement to observe or extend training. All are optional and may be async. */
export const TrainerHook = Symbol.for('grpo.TrainerHook');
export interface TrainerHook {
  readonly name: string;
  onTrainStart?(event: { step: number; totalSteps: number }): void | Promise<void>;
  onStepStart?(event: { step: number }): void | Promise<void>;
  onStepEnd?(event: StepSummary): void | Promise<void>;
  onEval?(event: { step: number; metrics: Readonly<Record<string, number>> }): void | Promise<void>;
  onCheckpoint?(event: { step: number; dir: string }): void | Promise<void>;
  onTrainEnd?(event: { step: number }): void | Promise<void>;
}
