import type { DatasetRow } from '../records.js';

export const PromptDataset = Symbol.for('grpo.PromptDataset');
/** Prompts with their fields (reference answers, …). Random access so the trainer can shuffle with its own seeded RNG. */
export interface PromptDataset<Row extends DatasetRow = DatasetRow> {
  readonly name: string;
  readonly size: number;
  get(index: number): Row;
}

export const EvalDataset = Symbol.for('grpo.EvalDataset');
/** Held-out prompts for evaluation; same shape as the training set. */
export type EvalDataset<Row extends DatasetRow = DatasetRow> = PromptDataset<Row>;
