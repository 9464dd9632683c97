import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataError } from '../errors.js';
import { JsonlMetricsSink, readMetrics } from './sinks.js';

let dir: string;
let n = 0;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'grpo-sinks-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function runDir(metrics: string): Promise<string> {
  const run = path.join(dir, `run-${n++}`);
  await new JsonlMetricsSink(run).open();
  await writeFile(path.join(run, 'metrics.jsonl'), metrics);
  return run;
}

describe('JsonlMetricsSink on resume (issue 21, item 4)', () => {
  it('drops a torn last line with a warning and resumes', async () => {
    const run = await runDir('{"step":0,"reward":0.1}\n{"step":1,"reward":0.2}\n{"step":2,"rew');
    const warnings: string[] = [];
    const sink = new JsonlMetricsSink(run, { resumeStep: 2, warn: (m) => warnings.push(m) });
    await sink.open();
    await sink.log(2, { reward: 0.3 });
    expect(await readMetrics(path.join(run, 'metrics.jsonl'))).toEqual([
      { step: 0, reward: 0.1 },
      { step: 1, reward: 0.2 },
      { step: 2, reward: 0.3 },
    ]);
    expect(warnings).toEqual([`${path.join(run, 'metrics.jsonl')}: dropped an unfinished last line (14 characters), as a write cut short leaves it`]);
  });

  it('refuses an unparsable line in the middle, naming the file and line', async () => {
    const run = await runDir('{"step":0}\ngarbage\n{"step":1}\n');
    const sink = new JsonlMetricsSink(run, { resumeStep: 2, warn: () => {} });
    const error = await sink.open().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataError);
    expect((error as Error).message).toBe(`${path.join(run, 'metrics.jsonl')}:2: not a log line (a JSON object with an integer "step"): "garbage"`);
  });

  it('readMetrics leaves a torn last line out', async () => {
    const run = await runDir('{"step":0,"loss":1}\n{"st');
    expect(await readMetrics(path.join(run, 'metrics.jsonl'))).toEqual([{ step: 0, loss: 1 }]);
    expect(await readFile(path.join(run, 'metrics.jsonl'), 'utf8')).toContain('{"st');
  });
});
