/**
 * The live report during a real (tiny) training run: the trainer's sinks as `grpo train` passes
 * them — the JSONL sink, then the live report — and what the report shows afterwards.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ArrayPromptDataset, JsonlMetricsSink, PromptDataset, resolveConfig, type GrpoPlugin } from '@grpo/core';
import grpo from '@grpo/plugin-grpo';
import { LiveReportSink } from '@grpo/report';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shareOfA, tinyTrainer, useWasm } from './tiny-task.js';

beforeAll(useWasm);

/** The tiny task with a reference answer on every row. */
const answered: GrpoPlugin = {
  meta: { name: 'tiny-task-answered', version: '0.0.0', core: '^0.1.0' },
  register: ({ bind }) => {
    bind(PromptDataset).toConstantValue(
      new ArrayPromptDataset(
        'tiny',
        ['b', 'c', 'd'].map((prompt) => ({ prompt, answer: 'aaaa' })),
      ),
    );
  },
};

describe('live report during training', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'grpo-live-report-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is rewritten while the run trains and complete at the end, with the reference answers of the samples', async () => {
    const config = resolveConfig(
      {
        seed: 5,
        outputDir: dir,
        generation: { maxNewTokens: 6 },
        train: { steps: 3, promptsPerStep: 2, groupSize: 4, learningRate: 3e-3, logSamplesEvery: 1 },
      },
      { source: 'test', defaults: [grpo(), answered] },
    );
    const trainer = await tinyTrainer(config, { rewards: [shareOfA] });
    const live = new LiveReportSink(dir, { intervalSeconds: 0 });
    const seen: string[] = [];
    const probe = { name: 'probe', log: async () => void seen.push(await readFile(path.join(dir, 'report.html'), 'utf8')) };
    await trainer.train({ sinks: [new JsonlMetricsSink(dir), live, probe] });
    trainer.dispose();
    // After each step the page was there, whole, and said the run was live.
    expect(seen).toHaveLength(3);
    seen.forEach((html, i) => {
      expect(html).toContain('id="live"');
      expect(html).toContain(`<dt>Steps</dt><dd>${i + 1} `);
      expect(html.endsWith('</html>\n')).toBe(true);
    });
    const final = await readFile(path.join(dir, 'report.html'), 'utf8');
    expect(final).not.toContain('id="live"');
    expect(final).toContain('<dt>Steps</dt><dd>3 ');
    expect(final).toContain('<th>Reference</th>');
    expect(final.match(/<td class="reference" rowspan="4"><pre>aaaa<\/pre><\/td>/g)).toHaveLength(3); // samples of steps 0, 1 and 2
    expect(final).toContain('id="chart-reward"');
  });
});
