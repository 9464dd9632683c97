import cliProgress from 'cli-progress';
import type { MetricsSink } from '@grpo/core';

const fmt = (x: number | undefined, digits = 3) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));

/**
 * A live progress bar (step, ETA, reward, KL) on a terminal; one plain line per step otherwise
 * (CI logs, pipes), so long runs always show they are alive.
 */
export class ProgressSink implements MetricsSink {
  readonly name = 'progress';
  private bar: cliProgress.SingleBar | undefined;

  constructor(
    private readonly totalSteps: number,
    private readonly startStep: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    if (stream.isTTY) {
      this.bar = new cliProgress.SingleBar(
        {
          stream,
          format: 'step {value}/{total} {bar} {percentage}% | ETA {eta_formatted} | reward {reward} | kl {kl} | {speed} tok/s',
          hideCursor: true,
          etaBuffer: 20,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(totalSteps, startStep, { reward: '-', kl: '-', speed: '-' });
    }
  }

  log(step: number, metrics: Readonly<Record<string, number>>): void {
    const payload = { reward: fmt(metrics.reward), kl: fmt(metrics.kl, 4), speed: fmt(metrics.tokens_per_sec, 0) };
    if (this.bar) {
      this.bar.update(step + 1, payload);
      return;
    }
    const evalPart = Object.entries(metrics)
      .filter(([k]) => k.startsWith('eval/'))
      .map(([k, v]) => ` ${k} ${fmt(v)}`)
      .join('');
    this.stream.write(
      `step ${step + 1}/${this.totalSteps} reward ${payload.reward} kl ${payload.kl} loss ${fmt(metrics.loss, 4)} ` +
        `len ${fmt(metrics['completions/mean_length'], 1)} ${fmt(metrics.step_time, 1)}s${evalPart}\n`,
    );
  }

  close(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
