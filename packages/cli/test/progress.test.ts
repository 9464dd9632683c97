import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { renderTerminal } from '../../../test/support/checkout.js';
import { evalProgress, fitLine, formatDuration, ProgressSink, StatusLine } from '../src/progress.js';

/** A stream that says it is a terminal of `columns` columns and keeps what is written. */
function terminal(columns: number | undefined, isTTY = true) {
  let raw = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      raw += chunk.toString();
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(stream, { isTTY, columns });
  return { stream, screen: () => renderTerminal(raw), raw: () => raw };
}

const metrics = { reward: 0.2734375, kl: 0.0038339, tokens_per_sec: 412.6, loss: 0.0002, 'completions/mean_length': 31.6, step_time: 12.1 };

describe('progress line', () => {
  it('fits an 80-column terminal with step, ETA, reward, KL and tokens/s, also for long runs', () => {
    for (const total of [5, 80, 1000, 123_456]) {
      const term = terminal(80);
      const sink = new ProgressSink(total, 0, term.stream);
      sink.log(total - 1, metrics);
      const line = term.screen()[0]!;
      expect(line.length, line).toBeLessThanOrEqual(79);
      expect(line).toMatch(new RegExp(`^step ${total}/${total} .*100% ETA \\S+ \\| reward 0\\.273 kl 0\\.0038 \\| 413 tok/s$`));
    }
  });

  it('has a bar when there is room and none when there is not; never wider than the terminal', () => {
    expect(fitLine('step 3/10', 0.3, 'tail', 40)).toMatch(/^step 3\/10 ▕█+░+▏ tail$/);
    expect(fitLine('step 3/10', 0.3, 'x'.repeat(30), 40)).toBe(`step 3/10 ${'x'.repeat(30)}`);
    expect(fitLine('head', 0, 'y'.repeat(100), 50)).toHaveLength(50);
    const narrow = terminal(40);
    new ProgressSink(80, 0, narrow.stream).log(11, metrics);
    expect(narrow.screen()[0]!.length).toBeLessThanOrEqual(39);
  });

  it('keeps messages on screen: the line is redrawn below them, not over them', () => {
    const term = terminal(80);
    const sink = new ProgressSink(80, 0, term.stream);
    sink.log(0, metrics);
    sink.line.message('stopping after this step and saving a checkpoint (press Ctrl-C again to exit now)');
    sink.log(1, metrics);
    sink.close();
    const screen = term.screen();
    expect(screen[0]).toBe('stopping after this step and saving a checkpoint (press Ctrl-C again to exit now)');
    expect(screen[1]).toMatch(/^step 2\/80 /);
    expect(screen[2]).toBe('');
  });

  it('prints one plain line per step when not on a terminal, as before', () => {
    const pipe = terminal(undefined, false);
    const sink = new ProgressSink(80, 0, pipe.stream);
    sink.log(1, { ...metrics, 'eval/accuracy': 0.5 });
    sink.close();
    expect(pipe.raw()).toBe('step 2/80 reward 0.273 kl 0.0038 loss 0.0002 len 31.6 12.1s eval/accuracy 0.500\n');
  });

  it('shows evaluation progress on the status line, or as plain lines through the fallback', () => {
    const term = terminal(80);
    const progress = evalProgress(new StatusLine(term.stream), 'eval before');
    progress.onProgress(64, 300);
    expect(term.screen()[0]).toMatch(/^eval before 64\/300 prompts ▕█+░+▏ \d+s ETA \S+$/);
    progress.done();
    expect(term.screen()[0]).toBe('');

    const lines: string[] = [];
    const plain = evalProgress(new StatusLine(terminal(undefined, false).stream, (t) => void lines.push(t)), 'eval before');
    plain.onProgress(64, 300);
    plain.onProgress(300, 300);
    expect(lines).toEqual([expect.stringMatching(/^eval before: 64\/300 prompts, \d+s\n$/), expect.stringMatching(/^eval before: 300\/300 prompts, \d+s\n$/)]);
  });

  it('formats durations', () => {
    expect([formatDuration(42), formatDuration(552), formatDuration(3720), formatDuration(-1)]).toEqual(['42s', '9m12s', '1h02m', '-']);
  });
});
