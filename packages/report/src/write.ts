import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DataError } from '@grpo/core';
import { readMetricsFile, readRunConfig, readSamplesFile } from './data.js';
import { renderRuns, type RenderOptions, type RunData } from './render.js';

export interface ReportOptions extends Pick<RenderOptions, 'title' | 'maxSampleSteps' | 'live'> {
  /**
   * Where to write the report; default `<runDir>/report.html` for one run and
   * `report-<a>-vs-<b>.html` in the working directory for several. Relative paths resolve against
   * the working directory.
   */
  out?: string;
}

/** Writes `text` to `file` through a temporary file in the same directory and a rename, so a reader never sees half a file. */
export async function writeAtomic(file: string, text: string): Promise<void> {
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
 * Reads a run directory: `metrics.jsonl` (required), `samples.jsonl` and `config.json` (both
 * optional). A malformed `config.json` does not stop the report: the page says what is wrong with it.
 */
export async function readRun(runDir: string, name = path.basename(path.resolve(runDir))): Promise<RunData> {
  const dir = path.resolve(runDir);
  const metrics = await readMetricsFile(path.join(dir, 'metrics.jsonl'));
  const samples = await readSamplesFile(path.join(dir, 'samples.jsonl'));
  let config: RunData['config'];
  let configError: string | undefined;
  try {
    config = await readRunConfig(path.join(dir, 'config.json'));
  } catch (error) {
    configError = (error as Error).message;
  }
  return { name, metrics, samples, ...(config ? { config } : {}), ...(configError ? { configError } : {}) };
}

/**
 * Names of several run directories: their own names, with as many parent directories as it takes
 * to tell them apart (`a/latest`, `b/latest`).
 */
export function runDirNames(dirs: readonly string[]): string[] {
  const parts = dirs.map((d) => path.resolve(d).split(path.sep).filter(Boolean));
  for (let depth = 1; ; depth++) {
    const names = parts.map((p) => p.slice(-depth).join('/') || '/');
    if (new Set(names).size === names.length || parts.every((p) => p.length <= depth)) return names;
  }
}

const fileSafe = (name: string): string => name.replace(/[^A-Za-z0-9._-]+/g, '_');

/**
 * Reads one run directory (`metrics.jsonl`, and `samples.jsonl` and `config.json` when present)
 * or several, and writes a self-contained HTML report: by default `<runDir>/report.html`, or for
 * several runs one page that overlays them, `report-<a>-vs-<b>.html` in the working directory.
 * Written atomically (a temporary file and a rename), so a browser that reloads it while a run
 * trains sees a whole page. Returns the report's absolute path. A missing, empty or malformed
 * metrics file is a `DataError` naming the file (and line).
 */
export async function writeReport(runDirs: string | readonly string[], options: ReportOptions = {}): Promise<string> {
  const dirs = typeof runDirs === 'string' ? [runDirs] : [...runDirs];
  if (dirs.length === 0) throw new DataError('no run directory given');
  const names = runDirNames(dirs);
  const runs = await Promise.all(dirs.map((d, i) => readRun(d, names[i])));
  const html = renderRuns(runs, {
    ...(options.title !== undefined ? { title: options.title } : {}),
    ...(options.maxSampleSteps !== undefined ? { maxSampleSteps: options.maxSampleSteps } : {}),
    ...(options.live !== undefined ? { live: options.live } : {}),
  });
  const defaultOut =
    dirs.length === 1
      ? path.join(path.resolve(dirs[0]!), 'report.html')
      : path.resolve(names.join('-').length <= 80 ? `report-${names.map(fileSafe).join('-vs-')}.html` : `report-${names.length}-runs.html`);
  const out = path.resolve(options.out ?? defaultOut);
  await writeAtomic(out, html);
  return out;
}
