import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DataError, GrpoError } from '@grpo/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseMetrics, parseSamples, planPanels, renderReport, summarize, writeReport, type MetricsRow, type PanelSpec } from '../src/index.js';
import { EVAL_STEPS, syntheticMetrics, syntheticSamples, writeSyntheticRun } from './synthetic.js';

/** The `report-data` JSON block of a rendered page. */
function reportData(html: string): { title: string; panels: PanelSpec[] } {
  const m = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html);
  if (!m) throw new Error('no report-data block');
  return JSON.parse(m[1]!) as { title: string; panels: PanelSpec[] };
}

const ids = (metrics: MetricsRow[]) => planPanels(metrics).map((p) => p.id);

describe('planPanels', () => {
  it('draws the standard panels of a full run, then one chart per uncovered metric', () => {
    expect(ids(syntheticMetrics())).toEqual([
      'reward',
      'reward-accuracy',
      'reward-format',
      'groups-without-signal',
      'kl',
      'entropy',
      'clip-ratio',
      'completion-length',
      'clipped-ratio',
      'loss',
      'learning-rate',
      'eval',
      'throughput',
      'other-ratio-mean',
      'other-dynamic-sampling-rounds',
    ]);
    const other = planPanels(syntheticMetrics()).filter((p) => p.group === 'other');
    expect(other.map((p) => p.metrics)).toEqual([['ratio/mean'], ['dynamic_sampling/rounds']]);
  });

  it('omits panels whose metrics are absent', () => {
    expect(
      ids([
        { step: 0, reward: 1 },
        { step: 1, reward: 2 },
      ]),
    ).toEqual(['reward']);
    expect(ids([{ step: 0, kl: 0.1, grad_norm: 2 }])).toEqual(['kl', 'loss']);
    const [reward] = planPanels([{ step: 0, reward: 1 }]);
    expect(reward!.datasets.map((d) => d.label)).toEqual(['reward']);
  });

  it('puts every metric of the run in some panel', () => {
    const rows = syntheticMetrics().map((r) => ({ ...r, 'custom/thing': 1, 'rewards/accuracy/errors': 0 }));
    const covered = planPanels(rows).flatMap((p) => p.metrics);
    const names = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((n) => n !== 'step');
    expect([...covered].sort()).toEqual([...names].sort());
    expect(new Set(covered).size).toBe(covered.length);
  });

  it('draws reward ± reward_std as a band under the reward line', () => {
    const [reward] = planPanels([
      { step: 0, reward: 1, reward_std: 0.5 },
      { step: 1, reward: 2, reward_std: 0.25 },
    ]);
    expect(reward!.metrics.sort()).toEqual(['reward', 'reward_std']);
    expect(reward!.datasets.map((d) => [d.y, Boolean(d.fill), d.legend !== false])).toEqual([
      [[0.5, 1.75], false, false],
      [[1.5, 2.25], true, true],
      [[1, 2], false, true],
    ]);
  });

  it('plots eval metrics only at the steps that have them, and non-finite values as gaps', () => {
    const panels = planPanels(syntheticMetrics());
    const evalPanel = panels.find((p) => p.id === 'eval')!;
    expect(evalPanel.datasets.map((d) => d.label)).toEqual(['eval/reward', 'eval/rewards/accuracy/mean']);
    for (const d of evalPanel.datasets) expect(d.x).toEqual(EVAL_STEPS);
    expect(panels.find((p) => p.id === 'kl')!.datasets[0]!.x).toHaveLength(20);
    const gaps = planPanels(parseMetrics('{"step":0,"kl":0.1}\n{"step":1,"kl":null}\n{"step":2,"kl":0.2}\n'));
    expect(gaps[0]!.datasets[0]!.y).toEqual([0.1, null, 0.2]);
  });
});

describe('renderReport', () => {
  it('has a canvas for every panel and none for absent metrics', () => {
    const html = renderReport([{ step: 0, reward: 1, loss: 0.5 }], [], { runName: 'r' });
    expect(html).toContain('id="chart-reward"');
    expect(html).toContain('id="chart-loss"');
    expect(html).not.toContain('id="chart-kl"');
    expect(html).not.toContain('Other metrics');
    expect(html.match(/<canvas /g)).toHaveLength(2);
    expect(reportData(html).panels.map((p) => p.id)).toEqual(['reward', 'loss']);
  });

  it('is self-contained: Chart.js is inlined and nothing is loaded from elsewhere', () => {
    const html = renderReport(syntheticMetrics(), syntheticSamples());
    expect(html).toContain('Chart.js v4');
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).not.toMatch(/<link[^>]+href=/);
    expect(html).not.toContain('sourceMappingURL');
  });

  it('escapes completions, prompts and reward names: <script> and & stay text', () => {
    const samples = [
      {
        step: 3,
        prompt: 'Is 1 < 2 & 3 > 2?',
        completion: 'yes </script><script>alert("x")</script> & done',
        reward: 1,
        rewards: { 'a<b>': 1 },
        advantage: 0.5,
      },
    ];
    const html = renderReport([{ step: 3, reward: 1 }], samples, { title: 'run </script><b>bold</b>' });
    expect(html).toContain('<pre>yes &#60;/script&#62;&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; done</pre>');
    expect(html).toContain('<pre>Is 1 &#60; 2 &#38; 3 &#62; 2?</pre>');
    expect(html).toContain('<th>a&#60;b&#62;</th>');
    expect(html).toContain('<title>run &#60;/script&#62;&#60;b&#62;bold&#60;/b&#62;</title>');
    // Exactly three script elements: the data block, Chart.js, the drawing code.
    expect(html.match(/<script[\s>]/gi)).toHaveLength(3);
    expect(html.match(/<\/script/gi)).toHaveLength(3);
    expect(reportData(html).title).toBe('run </script><b>bold</b>');
  });

  it('groups samples by step, latest first, showing a shared prompt once', () => {
    const html = renderReport(syntheticMetrics(), syntheticSamples());
    const steps = [...html.matchAll(/<tbody data-step="(\d+)">/g)].map((m) => m[1]);
    expect(steps).toEqual(['15', '10', '5', '0']);
    expect(html.match(/<tr class="sample">/g)).toHaveLength(12);
    expect(html.match(/<td class="prompt" rowspan="3">/g)).toHaveLength(4);
    // Per-function rewards, "—" where a function did not apply, signed advantages.
    expect(html).toContain('<th>accuracy</th><th>format</th><th>Advantage</th>');
    expect(html).toContain('<td class="num na">—</td>');
    expect(html).toContain('<td class="num neg">-1.15</td>');
    expect(html).toContain('<td class="num pos">+0.58</td>');
  });

  it('limits the samples to the latest steps when asked', () => {
    const html = renderReport(syntheticMetrics(), syntheticSamples(), { maxSampleSteps: 2 });
    expect([...html.matchAll(/<tbody data-step="(\d+)">/g)].map((m) => m[1])).toEqual(['15', '10']);
    expect(html).toContain('the latest 2 steps are shown');
  });

  it('says when no samples were logged', () => {
    expect(renderReport([{ step: 0, reward: 1 }], [])).toContain('No sample completions were logged');
  });
});

describe('summarize', () => {
  it('gives steps, first reward, the mean of the last 5 rewards and the last eval metrics', () => {
    const rows: MetricsRow[] = [1, 2, 3, 4, 5, 6, 7].map((r, step) => ({ step, reward: r, step_time: 2 }));
    rows[2]!['eval/reward'] = 0.25;
    rows[5]!['eval/reward'] = 0.5;
    rows[5]!['eval/rewards/acc/mean'] = 0.75;
    expect(summarize(rows, 'run-a')).toEqual({
      runName: 'run-a',
      steps: 7,
      firstStep: 0,
      lastStep: 6,
      firstReward: { step: 0, value: 1 },
      lastReward: { steps: 5, value: 5 },
      lastEval: { step: 5, metrics: { 'eval/reward': 0.5, 'eval/rewards/acc/mean': 0.75 } },
      totalSeconds: 14,
    });
    const html = renderReport(rows, [], { runName: 'run-a' });
    expect(html).toContain('<dt>Last reward</dt><dd>5 <small>mean of last 5 steps</small>');
    expect(html).toContain('<dt>eval/rewards/acc/mean</dt><dd>0.75 <small>step 5</small>');
  });
});

describe('parsing', () => {
  it('names the file and line of a malformed metrics line', () => {
    const text = '{"step":0,"reward":1}\n\n{"step":1,"reward":\n';
    expect(() => parseMetrics(text, 'run/metrics.jsonl')).toThrow(DataError);
    expect(() => parseMetrics(text, 'run/metrics.jsonl')).toThrow(/^run\/metrics\.jsonl:3: not valid JSON/);
  });

  it('rejects rows without a step, non-numeric metrics, and empty files', () => {
    expect(() => parseMetrics('{"reward":1}\n')).toThrow('metrics.jsonl:1: "step" must be an integer ≥ 0, got missing');
    expect(() => parseMetrics('[1]\n')).toThrow('metrics.jsonl:1: expected a JSON object, got an array');
    expect(() => parseMetrics('{"step":0}\n{"step":1,"kl":"0.1"}\n')).toThrow('metrics.jsonl:2: metric "kl" must be a number or null, got a string');
    expect(() => parseMetrics('\n\n')).toThrow(/metrics\.jsonl has no metrics/);
  });

  it('merges rows of the same step and sorts by step', () => {
    expect(parseMetrics('{"step":1,"reward":2}\n{"step":0,"reward":1}\n{"step":1,"eval/reward":0.5}\n')).toEqual([
      { step: 0, reward: 1 },
      { step: 1, reward: 2, 'eval/reward': 0.5 },
    ]);
  });

  it('validates sample lines and names the line', () => {
    expect(parseSamples('{"step":2,"prompt":"p","completion":"c","reward":null,"rewards":{"a":null},"advantage":0}\n')).toEqual([
      { step: 2, prompt: 'p', completion: 'c', reward: null, rewards: { a: null }, advantage: 0 },
    ]);
    expect(() => parseSamples('{"step":2,"prompt":"p","completion":3}\n', 's.jsonl')).toThrow('s.jsonl:1: "completion" must be a string, got a number');
  });
});

describe('writeReport', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'grpo-report-unit-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes <runDir>/report.html and leaves no temporary file', async () => {
    const run = path.join(dir, 'my-run');
    await writeSyntheticRun(run);
    const out = await writeReport(run);
    expect(out).toBe(path.join(run, 'report.html'));
    expect((await readdir(run)).sort()).toEqual(['metrics.jsonl', 'report.html', 'samples.jsonl']);
    const html = await readFile(out, 'utf8');
    expect(html).toContain('<title>GRPO run my-run</title>');
    expect(html.match(/<tr class="sample">/g)).toHaveLength(12);
  });

  it('takes a title and an output path, and needs no samples file', async () => {
    await writeFile(path.join(dir, 'metrics.jsonl'), '{"step":0,"reward":0.5}\n');
    const out = await writeReport(dir, { title: 'Nightly', out: path.join(dir, 'nightly.html') });
    expect(out).toBe(path.join(dir, 'nightly.html'));
    const html = await readFile(out, 'utf8');
    expect(html).toContain('<h1>Nightly</h1>');
    expect(html).toContain('No sample completions were logged');
  });

  it('fails with a DataError naming the metrics file when it is missing, empty or malformed', async () => {
    const file = path.join(dir, 'metrics.jsonl');
    await expect(writeReport(dir)).rejects.toThrow(`no metrics file at ${file}`);
    await writeFile(file, '');
    await expect(writeReport(dir)).rejects.toThrow(`${file} has no metrics`);
    await writeFile(file, '{"step":0,"reward":1}\n{"step":1,"reward":1\n');
    const error = await writeReport(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GrpoError);
    expect(error).toBeInstanceOf(DataError);
    expect((error as Error).message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: not valid JSON`));
    expect(await readdir(dir)).toEqual(['metrics.jsonl']);
  });
});
