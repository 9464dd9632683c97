import type { SampleLog } from '../records.js';

export const MetricsSink = Symbol.for('grpo.MetricsSink');
/** Receives metrics every step (console progress, metrics.jsonl, …). Many can be bound. */
export interface MetricsSink {
  readonly name: string;
  log(step: number, metrics: Readonly<Record<string, number>>): void | Promise<void>;
  logSamples?(step: number, samples: readonly SampleLog[]): void | Promise<void>;
  close?(): void | Promise<void>;
}
