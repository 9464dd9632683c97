import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MetricsSink } from '../contracts/metrics.js';
import type { SampleLog } from '../records.js';

/**
 * Appends one JSON object per step to `metrics.jsonl` (`{"step": 3, "reward": 0.5, …}`) and
 * sample completions to `samples.jsonl`. On resume, lines of steps at or after the resumed step
 * are dropped first, so the file reads as one uninterrupted run.
 */
export class JsonlMetricsSink implements MetricsSink {
  readonly name = 'jsonl';
  readonly file: string;
  readonly samplesFile: string;
  private ready: Promise<void>;

  constructor(outputDir: string, options: { resumeStep?: number } = {}) {
    this.file = path.join(outputDir, 'metrics.jsonl');
    this.samplesFile = path.join(outputDir, 'samples.jsonl');
    this.ready = this.prepare(outputDir, options.resumeStep ?? 0);
  }

  private async prepare(dir: string, resumeStep: number): Promise<void> {
    await mkdir(dir, { recursive: true });
    for (const file of [this.file, this.samplesFile]) {
      if (resumeStep === 0) {
        await writeFile(file, '');
        continue;
      }
      const text = await readFile(file, 'utf8').catch(() => '');
      const kept = text
        .split('\n')
        .filter((line) => line.trim() && (JSON.parse(line) as { step: number }).step < resumeStep)
        .map((line) => `${line}\n`)
        .join('');
      await writeFile(file, kept);
    }
  }

  async log(step: number, metrics: Readonly<Record<string, number>>): Promise<void> {
    await this.ready;
    await appendFile(this.file, `${JSON.stringify({ step, ...metrics })}\n`);
  }

  async logSamples(step: number, samples: readonly SampleLog[]): Promise<void> {
    await this.ready;
    await appendFile(this.samplesFile, samples.map((s) => `${JSON.stringify({ step, ...s })}\n`).join(''));
  }
}

/** Reads a metrics.jsonl back (for reports and tests). */
export async function readMetrics(file: string): Promise<Record<string, number>[]> {
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, number>);
}
