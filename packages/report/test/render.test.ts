import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DataError, GrpoError } from '@grpo/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  parseMetrics,
  parseRunConfig,
  parseSamples,
  planPanels,
  planReport,
  readRunConfig,
  renderReport,
  renderRuns,
  runDirNames,
  summarize,
  unitOf,
  writeReport,
  type MetricsRow,
  type PanelSpec,
} from '../src/index.js';
import { EVAL_STEPS, syntheticConfig, syntheticMetrics, syntheticSamples, writeSyntheticRun } from './synthetic.js';

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
      'timing',
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

  it('puts every metric of the run in some panel or in the list of constants, and none in both', () => {
    const rows = syntheticMetrics().map((r, i) => ({ ...r, 'custom/thing': 1, 'rewards/accuracy/errors': i % 2 }));
    const { panels, constants } = planReport([{ name: 'r', metrics: rows }]);
    const covered = [...panels.flatMap((p) => p.metrics), ...constants.map((c) => c.metric)];
    const names = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((n) => n !== 'step');
    expect([...covered].sort()).toEqual([...names].sort());
    expect(new Set(covered).size).toBe(covered.length);
    expect(constants).toEqual([
      { metric: 'rewards/unscored_frac', values: [0.05] },
      { metric: 'custom/thing', values: [1] },
    ]);
  });

  it('collapses constant metrics instead of drawing flat lines, but keeps single measurements', () => {
    const rows: MetricsRow[] = [0, 1, 2].map((step) => ({
      step,
      kl: 0,
      learning_rate: 1e-4,
      'clip_ratio/low_mean': 0,
      'clip_ratio/high_mean': step / 10,
      loss: step,
    }));
    rows[2]!['eval/accuracy'] = 0.5;
    const { panels, constants } = planReport([{ name: 'r', metrics: rows }]);
    expect(panels.map((p) => p.id)).toEqual(['clip-ratio', 'loss', 'eval']);
    expect(panels[0]!.datasets.map((d) => d.metric)).toEqual(['clip_ratio/high_mean']);
    expect(constants.map((c) => [c.metric, c.values])).toEqual([
      ['kl', [0]],
      ['learning_rate', [1e-4]],
      ['clip_ratio/low_mean', [0]],
    ]);
    // A metric that stays at null (NaN every step) is constant too; one logged once is a measurement.
    expect(
      planReport([
        {
          name: 'r',
          metrics: [
            { step: 0, x: null },
            { step: 1, x: null },
          ],
        },
      ]).constants,
    ).toEqual([{ metric: 'x', values: [null] }]);
    expect(planReport([{ name: 'r', metrics: [{ step: 0, x: 3 }] }]).panels.map((p) => p.id)).toEqual(['other-x']);
    const html = renderReport(rows);
    expect(html).toContain('<strong>Constant over the whole run</strong>');
    expect(html).toContain('<span class="constant" data-metric="learning_rate"><code>learning_rate</code> 1e-4</span>');
    expect(html).not.toContain('id="chart-kl"');
  });

  it('names the unit of timing metrics', () => {
    expect(['timing/update', 'step_time', 'data_seconds', 'load_ms', 'tokens_per_sec', 'kl'].map(unitOf)).toEqual([
      'seconds',
      'seconds',
      'seconds',
      'milliseconds',
      'tokens / s',
      undefined,
    ]);
    const [other] = planPanels([
      { step: 0, 'custom/load_ms': 3 },
      { step: 1, 'custom/load_ms': 4 },
    ]);
    expect(other!.yTitle).toBe('milliseconds');
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

  it('overlays several runs: one colour per run, one line per run that has the metric, legends naming the run', () => {
    const a: MetricsRow[] = [0, 1, 2].map((step) => ({ step, reward: step, loss: 1 - step, grad_norm: step * 2 }));
    const b: MetricsRow[] = [0, 1].map((step) => ({ step, reward: step + 1, loss: 2 - step }));
    const { panels } = planReport([
      { name: 'a', metrics: a },
      { name: 'b', metrics: b },
    ]);
    const reward = panels.find((p) => p.id === 'reward')!;
    expect(reward.datasets.map((d) => [d.label, d.run, d.x])).toEqual([
      ['a', 0, [0, 1, 2]],
      ['b', 1, [0, 1]],
    ]);
    expect(reward.datasets[0]!.color).not.toBe(reward.datasets[1]!.color);
    // Several metrics in one chart: the run's colour, and a dash pattern per metric.
    const loss = panels.find((p) => p.id === 'loss')!;
    expect(loss.datasets.map((d) => [d.label, d.color === reward.datasets[d.run]!.color, d.dash ?? []])).toEqual([
      ['a · loss', true, []],
      ['b · loss', true, []],
      ['a · grad_norm', true, [6, 4]],
    ]);
    // A metric constant in one run but not in the other is drawn; values per run when constant in each.
    const lr = planReport([
      {
        name: 'a',
        metrics: [
          { step: 0, learning_rate: 1 },
          { step: 1, learning_rate: 1 },
        ],
      },
      {
        name: 'b',
        metrics: [
          { step: 0, learning_rate: 2 },
          { step: 1, learning_rate: 2 },
        ],
      },
    ]);
    expect(lr.constants).toEqual([{ metric: 'learning_rate', values: [1, 2] }]);
    expect(
      renderRuns([
        {
          name: 'a',
          metrics: [
            { step: 0, learning_rate: 1 },
            { step: 1, learning_rate: 1 },
          ],
        },
        {
          name: 'b',
          metrics: [
            { step: 0, learning_rate: 2 },
            { step: 1, learning_rate: 2 },
          ],
        },
      ]),
    ).toContain('<code>learning_rate</code> a 1, b 2</span>');
  });

  it('draws evaluations as markers without lines, and marks dense training lines smoothable', () => {
    const panels = planPanels(syntheticMetrics());
    for (const d of panels.find((p) => p.id === 'eval')!.datasets) expect([d.showLine, d.points, d.smooth]).toEqual([false, true, false]);
    expect(panels.find((p) => p.id === 'kl')!.datasets[0]!.smooth).toBe(true);
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
    const html = renderReport(
      syntheticMetrics(),
      syntheticSamples().map(({ reference: _, ...s }) => s),
    );
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

  it('shows the reference answer once per group when samples have one, — where a group has none', () => {
    const samples = syntheticSamples().map((s) => (s.step === 0 ? (({ reference: _, ...rest }) => rest)(s) : s));
    const html = renderReport(syntheticMetrics(), samples);
    expect(html).toContain('<th>Prompt</th><th>Reference</th><th>Completion</th>');
    expect(html).toContain('<td class="reference" rowspan="3"><pre>17</pre></td>');
    expect(html).toContain('<td class="reference na" rowspan="3">—</td>');
    expect(html.match(/<td class="reference/g)).toHaveLength(4);
  });

  it('shows the config: key settings first, all of them in a table, and says when there is none', () => {
    const config = parseRunConfig(JSON.stringify(syntheticConfig()));
    const html = renderReport([{ step: 0, reward: 1 }], [], { runName: 'r', config });
    expect(html).toContain('<div><dt>train.learningRate</dt><dd><code>0.000001</code></dd></div>');
    expect(html).toContain('<div><dt>versions.@grpo/core</dt><dd><code>0.1.0</code></dd></div>');
    expect(html).toMatch(/<summary>All \d+ settings<\/summary>/);
    expect(html).toContain('<tr><th>plugins[1].@grpo/plugin-math-reward@0.1.0.accuracy</th><td><code>true</code></td></tr>');
    expect(renderReport([{ step: 0, reward: 1 }])).toContain('no config.json in the run directory');
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

  it("reads a sample's reference answer from `reference`, or from an `answer` string", () => {
    const [a, b, c] = parseSamples(
      [
        '{"step":0,"prompt":"p","completion":"c","reference":"42"}',
        '{"step":0,"prompt":"p","completion":"c","answer":"7"}',
        '{"step":0,"prompt":"p","completion":"c"}',
      ].join('\n'),
    );
    expect([a!.reference, b!.reference, c!.reference]).toEqual(['42', '7', undefined]);
    expect(() => parseSamples('{"step":0,"prompt":"p","completion":"c","answer":7}\n')).toThrow('samples.jsonl:1: "answer" must be a string, got a number');
  });

  it('flattens a config.json into dotted settings, with or without a `config` wrapper', () => {
    const nested = parseRunConfig(JSON.stringify({ config: { train: { steps: 5 }, plugins: ['a@1'] }, versions: { core: '0.1.0' }, seed: 3 }));
    expect(nested.entries).toEqual([
      ['train.steps', '5'],
      ['plugins', '["a@1"]'],
      ['versions.core', '0.1.0'],
      ['seed', '3'],
    ]);
    expect(parseRunConfig('{"train":{"steps":5},"rewards":{}}').entries).toEqual([
      ['train.steps', '5'],
      ['rewards', '{}'],
    ]);
    expect(() => parseRunConfig('[1]', 'r/config.json')).toThrow('r/config.json: expected a JSON object, got an array');
    expect(() => parseRunConfig('{', 'r/config.json')).toThrow(/^r\/config\.json: not valid JSON/);
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

  it('reads config.json when the run has one; an absent one is no error, a malformed one is shown, not fatal', async () => {
    const run = path.join(dir, 'r');
    await writeSyntheticRun(run, syntheticMetrics(), [], syntheticConfig());
    expect(await readRunConfig(path.join(dir, 'missing', 'config.json'))).toBeUndefined();
    expect(await readFile(await writeReport(run), 'utf8')).toContain('<dt>train.groupSize</dt>');
    await writeFile(path.join(run, 'config.json'), '{"train": ');
    const html = await readFile(await writeReport(run), 'utf8');
    expect(html).toContain(`<p class="warn">r: ${path.join(run, 'config.json')}: not valid JSON`);
  });

  it('writes one page comparing several runs, named apart by their parent directories', async () => {
    const a = path.join(dir, 'x', 'latest');
    const b = path.join(dir, 'y', 'latest');
    await writeSyntheticRun(a);
    await writeSyntheticRun(b, syntheticMetrics(10));
    expect(runDirNames([a, b])).toEqual(['x/latest', 'y/latest']);
    expect(runDirNames([a, path.join(dir, 'z')])).toEqual(['latest', 'z']);
    const out = await writeReport([a, b], { out: path.join(dir, 'both.html') });
    const html = await readFile(out, 'utf8');
    expect(html).toContain('<title>GRPO runs x/latest vs y/latest</title>');
    expect(html.match(/<tr data-run="\d">/g)).toHaveLength(2);
    expect(
      reportData(html)
        .panels.find((p) => p.id === 'reward')!
        .datasets.map((d) => d.label),
    ).toEqual([
      'x/latest · ± reward_std (lower)',
      'x/latest · ± reward_std',
      'y/latest · ± reward_std (lower)',
      'y/latest · ± reward_std',
      'x/latest',
      'y/latest',
    ]);
    // Without --out: report-<a>-vs-<b>.html in the working directory.
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      expect(await writeReport([a, b])).toBe(path.join(dir, 'report-x_latest-vs-y_latest.html'));
    } finally {
      process.chdir(cwd);
    }
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
