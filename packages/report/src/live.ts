import type { MetricsSink } from '@grpo/core';
import { writeReport, type ReportOptions } from './write.js';

export interface LiveReportOptions extends Pick<ReportOptions, 'title' | 'maxSampleSteps' | 'out'> {
  /** Least time between two rewrites while the run trains, in seconds (default 5); the report is also written at the first step and at close. */
  intervalSeconds?: number;
  /** How often an open page of the live report reloads itself, in seconds (default 10; 0 = never). */
  reloadSeconds?: number;
  /**
   * Called when a rewrite fails (a malformed metrics file, a full disk): training goes on and the
   * next rewrite tries again. Default: one line on stderr, once per distinct message.
   */
  onError?: (error: Error) => void;
  /** Milliseconds since some epoch (default `Date.now`), for tests. */
  now?: () => number;
}

/**
 * A `MetricsSink` that keeps `<runDir>/report.html` up to date while a run trains: after a step is
 * logged it rewrites the report from the run directory (what `grpo report` would write), at most
 * every `intervalSeconds`, and once more when the run closes. Each rewrite replaces the file
 * atomically, so a browser that reloads mid-run always sees a whole page; while the run trains the
 * page says so and reloads itself. Bind it after the sink that writes `metrics.jsonl`, which it
 * reads back.
 */
export class LiveReportSink implements MetricsSink {
  readonly name = 'report';
  readonly runDir: string;
  private readonly options: LiveReportOptions;
  private readonly now: () => number;
  private lastWrite = Number.NEGATIVE_INFINITY;
  private dirty = false;
  private readonly reported = new Set<string>();
  /** How many times the report was written. */
  writes = 0;

  constructor(runDir: string, options: LiveReportOptions = {}) {
    this.runDir = runDir;
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  async log(): Promise<void> {
    this.dirty = true;
    if (this.now() - this.lastWrite >= (this.options.intervalSeconds ?? 5) * 1000) await this.write(true);
  }

  logSamples(): void {
    // Written with the next step's rewrite, or at close.
    this.dirty = true;
  }

  /** Writes the final report (not live) when anything was logged since the last write. */
  async close(): Promise<void> {
    if (this.dirty || this.writes > 0) await this.write(false);
  }

  /** Rewrites the report now; `live` marks it as a run in progress. Returns its path, or `undefined` when it failed. */
  async write(live: boolean): Promise<string | undefined> {
    this.lastWrite = this.now();
    this.dirty = false;
    try {
      const { title, maxSampleSteps, out: file, reloadSeconds } = this.options;
      const out = await writeReport(this.runDir, {
        title,
        maxSampleSteps,
        out: file,
        ...(live ? { live: { updatedAt: new Date(), reloadSeconds: reloadSeconds ?? 10 } } : {}),
      });
      this.writes++;
      return out;
    } catch (error) {
      const err = error as Error;
      if (this.options.onError) this.options.onError(err);
      else if (!this.reported.has(err.message)) {
        this.reported.add(err.message);
        process.stderr.write(`report: not updated (${err.message}); training goes on\n`);
      }
      return undefined;
    }
  }
}
