// @grpo/plugin-sink-tensorboard: training metrics (and sample completions) as TensorBoard event files.
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { configPath, definePlugin, MetricsSink, type SampleLog } from '@grpo/core';
import { z } from 'zod';
import { fileVersionEvent, scalarsEvent, sessionStartEvent, textEvent, tfRecord } from './encoding.js';

export { crc32c, maskedCrc32c, tfRecord } from './encoding.js';

export const meta = { name: '@grpo/plugin-sink-tensorboard', version: '0.1.0', core: '^0.1.0' } as const;

export interface TensorBoardSinkOptions {
  /** Directory of this run's event file (TensorBoard shows one run per directory). */
  dir: string;
  /** Seconds between writes of the buffered events to the file (default 10); they are also written at close. */
  flushSeconds?: number;
  /** Log sample completions as a text summary named `samples` (default true). */
  samples?: boolean;
  /** Seconds since the epoch (default the clock), for tests. */
  now?: () => number;
}

let fileCounter = 0;

const escapeMarkdown = (text: string): string => text.replace(/[\\`*_{}[\]<>()#+\-.!|]/g, '\\$&');

/** The text summary of one step's samples: Markdown, one section per completion, code blocks for the text. */
export function samplesMarkdown(samples: readonly SampleLog[]): string {
  const fence = (text: string) => {
    const ticks = '`'.repeat(Math.max(3, ...[...text.matchAll(/`+/g)].map((m) => m[0].length + 1)));
    return `${ticks}\n${text}\n${ticks}`;
  };
  const num = (v: number | null) => (v === null || !Number.isFinite(v) ? '—' : String(Number(v.toPrecision(4))));
  return samples
    .map((s, i) => {
      const scores = Object.entries(s.rewards)
        .map(([fn, v]) => `${escapeMarkdown(fn)} ${num(v)}`)
        .join(', ');
      const head = `**Sample ${i + 1}** · reward ${num(s.reward)}${scores ? ` (${scores})` : ''} · advantage ${num(s.advantage)}`;
      const reference = s.reference !== undefined ? `\n\nReference:\n\n${fence(s.reference)}` : '';
      const prompt = i === 0 || samples[i - 1]!.prompt !== s.prompt ? `\n\nPrompt:\n\n${fence(s.prompt)}` : '';
      return `${head}${prompt}${reference}\n\nCompletion:\n\n${fence(s.completion)}`;
    })
    .join('\n\n---\n\n');
}

/**
 * A `MetricsSink` that writes TensorBoard event files: every step's metrics as scalar summaries
 * (tags are the metric names, so `rewards/accuracy/mean` is grouped under `rewards`), and sample
 * completions as a text summary. Events are buffered and appended to the file every
 * `flushSeconds` and at close. The file is created at the first logged step; when that step is
 * not 0 (a resumed run) a `SessionLog START` event at that step tells TensorBoard to drop the
 * points the interrupted run logged from that step on.
 */
export class TensorBoardSink implements MetricsSink {
  readonly name = 'tensorboard';
  readonly dir: string;
  /** The event file, once the first step was logged. */
  file: string | undefined;
  private readonly options: TensorBoardSinkOptions;
  private readonly now: () => number;
  private buffer: Uint8Array[] = [];
  private lastFlush = 0;
  private opened: Promise<void> | undefined;

  constructor(options: TensorBoardSinkOptions) {
    this.options = options;
    this.dir = options.dir;
    this.now = options.now ?? (() => Date.now() / 1000);
  }

  private open(firstStep: number): Promise<void> {
    this.opened ??= (async () => {
      const wall = this.now();
      const file = path.join(this.dir, `events.out.tfevents.${Math.floor(wall)}.${os.hostname()}.${process.pid}.${fileCounter++}`);
      await mkdir(this.dir, { recursive: true });
      const head = [tfRecord(fileVersionEvent(wall)), ...(firstStep > 0 ? [tfRecord(sessionStartEvent(wall, firstStep))] : [])];
      await writeFile(file, Buffer.concat(head), { flag: 'wx' });
      this.file = file;
      this.lastFlush = wall;
    })();
    return this.opened;
  }

  async log(step: number, metrics: Readonly<Record<string, number>>): Promise<void> {
    await this.open(step);
    this.buffer.push(tfRecord(scalarsEvent(this.now(), step, metrics)));
    await this.maybeFlush();
  }

  async logSamples(step: number, samples: readonly SampleLog[]): Promise<void> {
    if (this.options.samples === false || samples.length === 0) return;
    await this.open(step);
    this.buffer.push(tfRecord(textEvent(this.now(), step, 'samples', samplesMarkdown(samples))));
    await this.maybeFlush();
  }

  private async maybeFlush(): Promise<void> {
    if (this.now() - this.lastFlush >= (this.options.flushSeconds ?? 10)) await this.flush();
  }

  /** Appends the buffered events to the event file. */
  async flush(): Promise<void> {
    this.lastFlush = this.now();
    if (!this.file || this.buffer.length === 0) return;
    const data = Buffer.concat(this.buffer);
    this.buffer = [];
    await appendFile(this.file, data);
  }

  async close(): Promise<void> {
    if (this.opened) await this.opened;
    await this.flush();
  }
}

/** Options of `sinkTensorBoard()`. */
export const tensorBoardOptionsSchema = z
  .strictObject({
    logDir: z
      .string()
      .min(1)
      .optional()
      .describe("TensorBoard's log directory (relative to the config file); default `<outputDir>/tensorboard`. Point `tensorboard --logdir` here."),
    runName: z
      .string()
      .min(1)
      .regex(/^[^/\\]+$/, 'a directory name, without / or \\')
      .optional()
      .describe('Subdirectory of logDir for this run, so several runs share one log directory; default none (the event file goes into logDir itself).'),
    flushSeconds: z.number().min(0).default(10).describe('Seconds between writes of buffered events to the file (they are also written at the end).'),
    samples: z.boolean().default(true).describe('Also log sample completions (train.logSamplesEvery) as a text summary named `samples`.'),
  })
  .prefault({});

export type TensorBoardOptions = z.input<typeof tensorBoardOptionsSchema>;

/**
 * The TensorBoard sink plugin: binds a `TensorBoardSink` as a `MetricsSink`, writing to
 * `logDir/runName` (default `<outputDir>/tensorboard`).
 */
const sinkTensorBoard = definePlugin({
  meta,
  options: tensorBoardOptionsSchema,
  register({ bind, config, options }) {
    bind<MetricsSink>(MetricsSink)
      .toDynamicValue(() => {
        const logDir = configPath(config, options.logDir ?? path.join(config.outputDir, 'tensorboard'));
        return new TensorBoardSink({
          dir: options.runName ? path.join(logDir, options.runName) : logDir,
          flushSeconds: options.flushSeconds,
          samples: options.samples,
        });
      })
      .inSingletonScope();
  },
});
export default sinkTensorBoard;
