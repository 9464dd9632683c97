import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LiveReportSink } from '../src/index.js';
import { syntheticMetrics, writeSyntheticRun } from './synthetic.js';

describe('LiveReportSink', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'grpo-report-live-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const report = () => readFile(path.join(dir, 'report.html'), 'utf8');
  const steps = (html: string) => /<dt>Steps<\/dt><dd>(\d+)/.exec(html)?.[1];

  it('rewrites the report at the first step, then at most every intervalSeconds, and a final one at close', async () => {
    let now = 0;
    const sink = new LiveReportSink(dir, { intervalSeconds: 5, reloadSeconds: 7, now: () => now });
    const rows = syntheticMetrics(12);
    const logStep = async (step: number) => {
      // The JSONL sink runs first and appends the step's line; the report is rebuilt from the file.
      await appendFile(path.join(dir, 'metrics.jsonl'), `${JSON.stringify(rows[step])}\n`);
      await sink.log();
    };
    await logStep(0);
    expect(sink.writes).toBe(1);
    const first = await report();
    expect(steps(first)).toBe('1');
    expect(first).toContain('<p class="live" id="live">Live: written at');
    expect(first).toContain('this page reloads every 7 s');
    for (let step = 1; step <= 4; step++) {
      now += 1000;
      await logStep(step);
    }
    expect(sink.writes).toBe(1); // throttled: 4 s since the last write
    now += 1000;
    await logStep(5);
    expect(sink.writes).toBe(2);
    expect(steps(await report())).toBe('6');
    now += 1000;
    await logStep(6);
    await sink.close();
    expect(sink.writes).toBe(3);
    const last = await report();
    expect(steps(last)).toBe('7');
    expect(last).not.toContain('id="live"');
    expect((await readdir(dir)).sort()).toEqual(['metrics.jsonl', 'report.html']);
  });

  it('never lets a reader see a partial page while it rewrites', async () => {
    await writeSyntheticRun(dir, syntheticMetrics(200));
    const sink = new LiveReportSink(dir, { intervalSeconds: 0 });
    await sink.log();
    let writing = true;
    const reads: string[] = [];
    const reader = (async () => {
      while (writing) reads.push(await report());
    })();
    for (let i = 0; i < 15; i++) await sink.log();
    writing = false;
    await reader;
    expect(sink.writes).toBe(16);
    expect(reads.length).toBeGreaterThan(5);
    for (const html of reads) {
      expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
      expect(html.endsWith('</html>\n')).toBe(true);
    }
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('reports a failed rewrite and lets training go on; the next rewrite succeeds', async () => {
    const errors: string[] = [];
    const sink = new LiveReportSink(dir, { intervalSeconds: 0, onError: (e) => errors.push(e.message) });
    await sink.log(); // no metrics.jsonl yet
    expect(errors).toEqual([`no metrics file at ${path.join(dir, 'metrics.jsonl')} (is this a run directory? a run writes metrics.jsonl there)`]);
    await writeFile(path.join(dir, 'metrics.jsonl'), '{"step":0,"reward":1}\n');
    await sink.log();
    expect(sink.writes).toBe(1);
    expect(errors).toHaveLength(1);
  });

  it('writes nothing at close when nothing was logged', async () => {
    const sink = new LiveReportSink(dir);
    await sink.close();
    expect(await readdir(dir)).toEqual([]);
  });
});
