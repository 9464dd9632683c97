import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { accuracySpec, writePlots, type PlottedRun } from '../../scripts/reproduce-plots.js';

const run = (method: string, seed: number, greedy: number[]): PlottedRun => ({
  method,
  seed,
  samplesPerStep: 128,
  curve: greedy.map((g, i) => ({ step: i * 10, greedy: g, majAtK: g - 0.1, passAtK: g + 0.2 })),
  sampleAccuracy: Array.from({ length: 20 }, (_, i) => 0.2 + i * 0.01),
  peakBytes: 1400 * 2 ** 20,
  stepSec: 7,
});

describe('bench:reproduce charts', () => {
  const runs = [run('grpo', 0, [0.31, 0.45, 0.5]), run('grpo', 1, [0.31, 0.47, 0.55]), run('grpo-rm-iterative', 0, [0.31, 0.4, 0.48])];

  it('plots every metric of every run against sampled completions', () => {
    const spec = accuracySpec(runs) as unknown as { data: { values: { method: string; samples: number; metric: string; value: number }[] } };
    const values = spec.data.values;
    expect(values).toHaveLength(3 * 3 * 3);
    expect(values.find((v) => v.method === 'GRPO (outcome)' && v.samples === 2560 && v.metric === 'pass@8')?.value).toBeCloseTo(0.7, 9);
    expect(new Set(values.map((v) => v.method))).toEqual(new Set(['GRPO (outcome)', 'GRPO (iterative RM)']));
  });

  it('renders three SVG files headlessly, with titles and legends', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'plots-'));
    const files = await writePlots(runs, dir);
    expect(files.map((f) => path.basename(f))).toEqual(['accuracy.svg', 'training-accuracy.svg', 'cost.svg']);
    const accuracy = await readFile(files[0]!, 'utf8');
    expect(accuracy.startsWith('<svg')).toBe(true);
    for (const text of ['Held-out accuracy', 'sampled completions', 'GRPO (outcome)', 'GRPO (iterative RM)', 'maj@8', 'pass@8'])
      expect(accuracy).toContain(text);
    expect(await readFile(files[2]!, 'utf8')).toContain('peak tensor memory (MiB)');
  });
});
