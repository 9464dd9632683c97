import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DataError } from '@grpo/core';
import { readMetricsFile, readSamplesFile } from './data.js';
import { renderReport, type RenderOptions } from './render.js';

export interface ReportOptions extends Pick<RenderOptions, 'title' | 'maxSampleSteps'> {
  /** Where to write the report; default `<runDir>/report.html`. Relative paths resolve against the working directory. */
  out?: string;
}

/** Writes `text` to `file` through a temporary file in the same directory and a rename. */
async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, text, 'utf8');
    await rename(tmp, file);
  } catch (error) {
    await rm(tmp, { force: true });
    throw new DataError(`cannot write the report to ${file}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Reads `<runDir>/metrics.jsonl` and `<runDir>/samples.jsonl` (optional) and writes a
 * self-contained HTML report, by default `<runDir>/report.html`. Returns the report's absolute path.
 * A missing, empty or malformed metrics file is a `DataError` naming the file (and line).
 */
export async function writeReport(runDir: string, options: ReportOptions = {}): Promise<string> {
  const dir = path.resolve(runDir);
  const metrics = await readMetricsFile(path.join(dir, 'metrics.jsonl'));
  const samples = await readSamplesFile(path.join(dir, 'samples.jsonl'));
  const html = renderReport(metrics, samples, {
    runName: path.basename(dir),
    ...(options.title !== undefined ? { title: options.title } : {}),
    ...(options.maxSampleSteps !== undefined ? { maxSampleSteps: options.maxSampleSteps } : {}),
  });
  const out = path.resolve(options.out ?? path.join(dir, 'report.html'));
  await writeAtomic(out, html);
  return out;
}
