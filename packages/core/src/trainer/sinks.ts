import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MetricsSink } from '../contracts/metrics.js';
import { DataError } from '../errors.js';
import type { SampleLog } from '../records.js';

/** The lines of a JSONL log, parsed: a torn last line (a write cut short) is dropped and reported; any other unparsable line is an error naming the file and line. */
function parseLog(file: string, text: string): { rows: { step: number; line: string }[]; torn?: string } {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  const rows: { step: number; line: string }[] = [];
  const last = lines.reduce((at, line, i) => (line.trim() ? i : at), -1);
  let torn: string | undefined;
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let step: unknown;
    try {
      step = (JSON.parse(line) as { step?: unknown } | null)?.step;
    } catch {
      step = undefined;
    }
    if (typeof step === 'number' && Number.isInteger(step)) rows.push({ step, line });
    else if (i === last) torn = line;
    else throw new DataError(`${file}:${i + 1}: not a log line (a JSON object with an integer "step"): ${JSON.stringify(line.slice(0, 80))}`);
  });
  return { rows, torn };
}

/**
 * Appends one JSON object per step to `metrics.jsonl` (`{"step": 3, "reward": 0.5, …}`) and
 * sample completions to `samples.jsonl`. On resume, lines of steps at or after the resumed step
 * are dropped first, so the file reads as one uninterrupted run. A torn last line (an append cut
 * short by a crash or a full disk) is dropped with a warning; an unparsable line elsewhere is a
 * `DataError` naming the file and line.
 */
export class JsonlMetricsSink implements MetricsSink {
  readonly name = 'jsonl';
  readonly file: string;
  readonly samplesFile: string;
  private ready: Promise<void>;
  private readonly warn: (message: string) => void;

  constructor(outputDir: string, options: { resumeStep?: number; warn?: (message: string) => void } = {}) {
    this.file = path.join(outputDir, 'metrics.jsonl');
    this.samplesFile = path.join(outputDir, 'samples.jsonl');
    this.warn = options.warn ?? ((message) => void process.stderr.write(`warning: ${message}\n`));
    this.ready = this.prepare(outputDir, options.resumeStep ?? 0);
    // Reported by `open()` or the first `log()`, not as an unhandled rejection.
    this.ready.catch(() => undefined);
  }

  private async prepare(dir: string, resumeStep: number): Promise<void> {
    await mkdir(dir, { recursive: true });
    for (const file of [this.file, this.samplesFile]) {
      if (resumeStep === 0) {
        await writeFile(file, '');
        continue;
      }
      const { rows, torn } = parseLog(file, await readFile(file, 'utf8').catch(() => ''));
      if (torn !== undefined) this.warn(`${file}: dropped an unfinished last line (${torn.length} characters), as a write cut short leaves it`);
      const kept = rows
        .filter((r) => r.step < resumeStep)
        .map((r) => `${r.line}\n`)
        .join('');
      await writeFile(file, kept);
    }
  }

  /** Resolves once the files are ready (on resume: truncated to the resumed step); rejects with what stops them. */
  async open(): Promise<void> {
    await this.ready;
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

/** Reads a metrics.jsonl back (for reports and tests); a torn last line is left out. */
export async function readMetrics(file: string): Promise<Record<string, number>[]> {
  return parseLog(file, await readFile(file, 'utf8')).rows.map((r) => JSON.parse(r.line) as Record<string, number>);
}
