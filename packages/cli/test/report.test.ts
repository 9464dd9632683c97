import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/index.js';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

describe('grpo report', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'grpo-cli-report-'));
    for (const [name, reward] of [
      ['lr-1e-4', 0.5],
      ['lr-3e-4', 0.7],
    ] as const) {
      await mkdir(path.join(dir, name));
      const rows = [0, 1, 2].map((step) => JSON.stringify({ step, reward: reward + step / 10 }));
      await writeFile(path.join(dir, name, 'metrics.jsonl'), `${rows.join('\n')}\n`);
    }
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes <run-dir>/report.html for one run', async () => {
    const { code, out } = await run(['report', path.join(dir, 'lr-1e-4')]);
    expect(code).toBe(0);
    expect(out).toBe(`report: ${path.join(dir, 'lr-1e-4', 'report.html')}\n`);
  });

  it('overlays several runs in one report', async () => {
    const file = path.join(dir, 'compare.html');
    const { code, out } = await run(['report', path.join(dir, 'lr-1e-4'), path.join(dir, 'lr-3e-4'), '-o', file]);
    expect(code).toBe(0);
    expect(out).toBe(`report: ${file}\n`);
    const html = await readFile(file, 'utf8');
    expect(html).toContain('<title>GRPO runs lr-1e-4 vs lr-3e-4</title>');
    expect(html.match(/<tr data-run="\d">/g)).toHaveLength(2);
  });

  it('names every run directory in its help', async () => {
    const { code, out } = await run(['report', '--help']);
    expect(code).toBe(0);
    expect(out).toContain('report [options] <run-dirs...>');
    expect(out).toContain('$ grpo report runs/lr-1e-4 runs/lr-3e-4');
  });
});
