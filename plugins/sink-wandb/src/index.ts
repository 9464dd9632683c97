// @grpo/plugin-sink-wandb: training metrics and the run's config as a Weights & Biases offline run.
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { configPath, configToJson, definePlugin, MetricsSink } from '@grpo/core';
import { stringify } from 'yaml';
import { z } from 'zod';
import { exitRecord, finalRecord, headerRecord, historyRecord, LogFramer, logHeader, runRecord, summaryRecord, valueJson, type RunInfo } from './encoding.js';

export { crc32, valueJson, type RunInfo } from './encoding.js';

export const meta = { name: '@grpo/plugin-sink-wandb', version: '0.1.0', core: '^0.1.0' } as const;

export interface WandbSinkOptions {
  /** The W&B directory the offline run directory goes into (W&B's own default is `./wandb`). */
  dir: string;
  project: string;
  entity?: string;
  /** The run's display name. */
  name?: string;
  /** The run's ID (default 8 random characters, as W&B makes them). */
  runId?: string;
  group?: string;
  jobType?: string;
  notes?: string;
  tags?: readonly string[];
  /** The run's config, by top-level key (the plugin passes `configToJson` of the resolved config). */
  config?: Readonly<Record<string, unknown>>;
  /** Seconds between appends of buffered records to the log (default 10); they are also written at close. */
  flushSeconds?: number;
  /** Milliseconds since the epoch (default `Date.now`), for tests. */
  now?: () => number;
}

const pad = (n: number) => String(n).padStart(2, '0');
/** W&B's timestamp in run directory names: local time, `YYYYMMDD_HHMMSS`. */
const dirTime = (d: Date) => `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}_${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
/** A run ID like W&B's: 8 characters of [a-z0-9]. */
export const randomRunId = (): string => [...randomBytes(8)].map((b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');

async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

/**
 * A `MetricsSink` that writes a W&B offline run directory, as `wandb.init(mode="offline")` does:
 * `<dir>/offline-run-<YYYYMMDD_HHMMSS>-<id>/run-<id>.wandb` (the transaction log `wandb sync`
 * uploads: a header record, the run record with the config, one history record per step, and at
 * close the summary, exit and final records) and, for people and tools, `files/config.yaml`,
 * `files/wandb-summary.json` and `files/wandb-metadata.json`. Records are buffered and appended
 * every `flushSeconds` and at close. Nothing is sent anywhere: `wandb sync <run dir>` uploads it.
 */
export class WandbSink implements MetricsSink {
  readonly name = 'wandb';
  readonly runId: string;
  /** The offline run directory, once the first step was logged. */
  runDir: string | undefined;
  private readonly options: WandbSinkOptions;
  private readonly now: () => number;
  private framer = new LogFramer();
  private num = 0;
  private buffer: Uint8Array[] = [];
  private lastFlush = 0;
  private started = 0;
  private opened: Promise<void> | undefined;
  private closed = false;
  private readonly summary: Record<string, unknown> = {};

  constructor(options: WandbSinkOptions) {
    this.options = options;
    this.runId = options.runId ?? randomRunId();
    this.now = options.now ?? Date.now;
  }

  /** The transaction log of the run, once the first step was logged. */
  get logFile(): string | undefined {
    return this.runDir && path.join(this.runDir, `run-${this.runId}.wandb`);
  }

  private push(record: Uint8Array): void {
    this.buffer.push(...this.framer.frame(record));
  }

  private open(): Promise<void> {
    this.opened ??= (async () => {
      const o = this.options;
      this.started = this.now();
      const runDir = path.join(o.dir, `offline-run-${dirTime(new Date(this.started))}-${this.runId}`);
      await mkdir(path.join(runDir, 'files'), { recursive: true });
      this.runDir = runDir;
      const config = o.config ?? {};
      const run: RunInfo = {
        runId: this.runId,
        project: o.project,
        startTime: this.started,
        config,
        host: os.hostname(),
        ...(o.entity ? { entity: o.entity } : {}),
        ...(o.name ? { displayName: o.name } : {}),
        ...(o.group ? { group: o.group } : {}),
        ...(o.jobType ? { jobType: o.jobType } : {}),
        ...(o.notes ? { notes: o.notes } : {}),
        ...(o.tags?.length ? { tags: o.tags } : {}),
      };
      await writeFile(this.logFile!, logHeader(), { flag: 'wx' });
      this.push(headerRecord(++this.num, `grpo-ts ${meta.version}`));
      this.push(runRecord(++this.num, run));
      await writeFile(path.join(runDir, 'files', 'config.yaml'), stringify(Object.fromEntries(Object.entries(config).map(([k, v]) => [k, { value: v }]))));
      const metadata = {
        program: 'grpo',
        startedAt: new Date(this.started).toISOString(),
        host: os.hostname(),
        os: `${os.platform()}-${os.release()}`,
        executable: process.execPath,
        node: process.version,
      };
      await writeFile(path.join(runDir, 'files', 'wandb-metadata.json'), `${JSON.stringify(metadata, null, 2)}\n`);
      this.lastFlush = this.started;
    })();
    return this.opened;
  }

  async log(step: number, metrics: Readonly<Record<string, number>>): Promise<void> {
    await this.open();
    const now = this.now();
    const row = { ...metrics, _step: step, _runtime: (now - this.started) / 1000, _timestamp: now / 1000 };
    for (const [k, v] of Object.entries(row)) if (typeof v !== 'number' || Number.isFinite(v) || !(k in this.summary)) this.summary[k] = v;
    this.push(historyRecord(++this.num, step, row));
    if (now - this.lastFlush >= (this.options.flushSeconds ?? 10) * 1000) await this.flush();
  }

  /** Appends the buffered records to the log and rewrites `files/wandb-summary.json`. */
  async flush(): Promise<void> {
    this.lastFlush = this.now();
    if (!this.runDir) return;
    if (this.buffer.length) {
      const data = Buffer.concat(this.buffer);
      this.buffer = [];
      await appendFile(this.logFile!, data);
    }
    const summary = Object.entries(this.summary)
      .map(([k, v]) => `${JSON.stringify(k)}: ${valueJson(v)}`)
      .join(', ');
    await writeAtomic(path.join(this.runDir, 'files', 'wandb-summary.json'), `{${summary}}\n`);
  }

  /** Writes the summary, exit and final records: the log is complete and `wandb sync` marks the run finished. */
  async close(): Promise<void> {
    if (!this.opened || this.closed) return;
    await this.opened;
    this.closed = true;
    this.push(summaryRecord(++this.num, this.summary));
    this.push(exitRecord(++this.num, 0, (this.now() - this.started) / 1000));
    this.push(finalRecord(++this.num));
    await this.flush();
  }
}

/** Options of `sinkWandb()`. */
export const wandbOptionsSchema = z
  .strictObject({
    mode: z
      .literal('offline')
      .default('offline')
      .describe('Only `offline`: the run is written to disk and uploaded later with `wandb sync`; this plugin never uses the network.'),
    dir: z.string().min(1).optional().describe('Directory of the offline runs (relative to the config file); default `<outputDir>/wandb`.'),
    project: z.string().min(1).default('grpo').describe('W&B project the run belongs to (`wandb sync -p` can override it).'),
    entity: z.string().min(1).optional().describe('W&B user or team; default the one `wandb sync` is logged in as.'),
    runName: z.string().min(1).optional().describe("The run's display name; default the name of the run directory (outputDir)."),
    runId: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only')
      .optional()
      .describe('The run ID; default 8 random characters (a new W&B run per training process, resumed ones included).'),
    group: z.string().min(1).optional(),
    jobType: z.string().min(1).optional(),
    notes: z.string().optional(),
    tags: z.array(z.string().min(1)).optional(),
    flushSeconds: z.number().min(0).default(10).describe('Seconds between appends of buffered records (they are also written at the end).'),
  })
  .prefault({});

export type WandbOptions = z.input<typeof wandbOptionsSchema>;

/**
 * The W&B sink plugin: binds a `WandbSink` as a `MetricsSink` that writes an offline run (with the
 * resolved config as the run's config) under `dir` (default `<outputDir>/wandb`).
 */
const sinkWandb = definePlugin({
  meta,
  options: wandbOptionsSchema,
  register({ bind, config, options }) {
    bind<MetricsSink>(MetricsSink)
      .toDynamicValue(
        () =>
          new WandbSink({
            dir: configPath(config, options.dir ?? path.join(config.outputDir, 'wandb')),
            project: options.project,
            name: options.runName ?? path.basename(configPath(config, config.outputDir)),
            config: configToJson(config),
            flushSeconds: options.flushSeconds,
            ...(options.entity ? { entity: options.entity } : {}),
            ...(options.runId ? { runId: options.runId } : {}),
            ...(options.group ? { group: options.group } : {}),
            ...(options.jobType ? { jobType: options.jobType } : {}),
            ...(options.notes ? { notes: options.notes } : {}),
            ...(options.tags ? { tags: options.tags } : {}),
          }),
      )
      .inSingletonScope();
  },
});
export default sinkWandb;
