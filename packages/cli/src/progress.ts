import type { MetricsSink } from '@grpo/core';

const fmt = (x: number | undefined, digits = 3) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));

/** A duration for a progress line: `42s`, `9m12s`, `1h02m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** `▕████░░░░▏` of `width` cells (2 of them the ends) for a share in [0, 1]. */
function bar(share: number, width: number): string {
  const inner = width - 2;
  const full = Math.round(Math.min(1, Math.max(0, share)) * inner);
  return `▕${'█'.repeat(full)}${'░'.repeat(inner - full)}▏`;
}

/**
 * `head` + a bar + `tail` in at most `columns` characters: the bar takes what is left (at most 20
 * cells) and is left out when fewer than 8 are; text that still does not fit is cut.
 */
export function fitLine(head: string, share: number, tail: string, columns: number): string {
  const room = columns - head.length - tail.length - 2;
  const line = room >= 8 ? `${head} ${bar(share, Math.min(20, room))} ${tail}` : `${head} ${tail}`;
  return line.length <= columns ? line : line.slice(0, columns);
}

/**
 * One status line on a terminal (stderr), redrawn in place; `message` prints a line of its own
 * above it, so a message is never overwritten by the next redraw. Not a terminal: `draw` prints
 * nothing and `message` writes plain lines.
 */
export class StatusLine {
  private current = '';

  constructor(
    readonly stream: NodeJS.WriteStream = process.stderr,
    /** Where `message` writes when the stream is not a terminal (default: the stream). */
    private readonly plain: (text: string) => void = (t) => void stream.write(t),
  ) {}

  get isTTY(): boolean {
    return this.stream.isTTY === true;
  }

  /** Usable width: one less than the terminal's (a full line would wrap on some terminals); 80 when unknown. */
  get columns(): number {
    const c = this.stream.columns;
    return (c && c > 0 ? c : 80) - 1;
  }

  /** Replaces the status line (terminals only). */
  draw(text: string): void {
    if (!this.isTTY) return;
    this.current = text.length > this.columns ? text.slice(0, this.columns) : text;
    this.stream.write(`\r${this.current}\x1b[K`);
  }

  /** Prints `text` as lines of their own above the status line, which is drawn again below them. */
  message(text: string): void {
    const lines = text.endsWith('\n') ? text : `${text}\n`;
    if (!this.isTTY) return this.plain(lines);
    this.stream.write(`\r\x1b[K${lines}${this.current}`);
  }

  /** Removes the status line. */
  clear(): void {
    if (this.isTTY && this.current) this.stream.write('\r\x1b[K');
    this.current = '';
  }

  /** Keeps the status line as it is and moves below it. */
  done(): void {
    if (this.isTTY && this.current) this.stream.write('\n');
    this.current = '';
  }
}

/**
 * A live progress line (step, bar, ETA, reward, KL, tokens/s; within the terminal's width, 80
 * columns included) on a terminal; one plain line per step otherwise (CI logs, pipes), so long
 * runs always show they are alive. Messages go through `line.message` so redraws never hide them.
 */
export class ProgressSink implements MetricsSink {
  readonly name = 'progress';
  readonly line: StatusLine;
  private readonly started = performance.now();

  constructor(
    private readonly totalSteps: number,
    private readonly startStep: number,
    stream: NodeJS.WriteStream | StatusLine = process.stderr,
  ) {
    this.line = stream instanceof StatusLine ? stream : new StatusLine(stream);
    this.line.draw(this.render(startStep, {}));
  }

  /** The terminal line after `done` steps. */
  private render(done: number, metrics: Readonly<Record<string, number>>): string {
    const steps = done - this.startStep;
    const elapsed = (performance.now() - this.started) / 1000;
    const eta = steps > 0 ? formatDuration((elapsed / steps) * (this.totalSteps - done)) : '-';
    const share = this.totalSteps > 0 ? done / this.totalSteps : 0;
    const head = `step ${done}/${this.totalSteps}`;
    const tail =
      `${Math.floor(share * 100)}% ETA ${eta} | reward ${fmt(metrics.reward)} kl ${fmt(metrics.kl, 4)} | ` + `${fmt(metrics.tokens_per_sec, 0)} tok/s`;
    return fitLine(head, share, tail, this.line.columns);
  }

  log(step: number, metrics: Readonly<Record<string, number>>): void {
    if (this.line.isTTY) {
      this.line.draw(this.render(step + 1, metrics));
      return;
    }
    const evalPart = Object.entries(metrics)
      .filter(([k]) => k.startsWith('eval/'))
      .map(([k, v]) => ` ${k} ${fmt(v)}`)
      .join('');
    this.line.stream.write(
      `step ${step + 1}/${this.totalSteps} reward ${fmt(metrics.reward)} kl ${fmt(metrics.kl, 4)} loss ${fmt(metrics.loss, 4)} ` +
        `len ${fmt(metrics['completions/mean_length'], 1)} ${fmt(metrics.step_time, 1)}s${evalPart}\n`,
    );
  }

  close(): void {
    this.line.done();
  }
}

/**
 * Progress of an evaluation (`evaluate`'s `onProgress`): a status line on a terminal, else a
 * plain line per batch (`eval before: 64/300 prompts, 12s`). Call the returned `done` when it ends.
 */
export function evalProgress(line: StatusLine, label: string): { onProgress: (done: number, total: number) => void; done: () => void } {
  const started = performance.now();
  const seconds = () => formatDuration((performance.now() - started) / 1000);
  const onProgress = (done: number, total: number) => {
    if (line.isTTY) {
      const eta = done > 0 ? formatDuration((((performance.now() - started) / 1000) * (total - done)) / done) : '-';
      line.draw(fitLine(`${label} ${done}/${total} prompts`, total > 0 ? done / total : 0, `${seconds()} ETA ${eta}`, line.columns));
    } else {
      line.message(`${label}: ${done}/${total} prompts, ${seconds()}`);
    }
  };
  return { onProgress, done: () => line.clear() };
}
