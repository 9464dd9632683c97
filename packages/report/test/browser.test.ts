import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planPanels, planReport, writeReport } from '../src/index.js';
import { EVAL_STEPS, syntheticConfig, syntheticMetrics, syntheticSamples, writeSyntheticRun } from './synthetic.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

interface CanvasCheck {
  id: string;
  width: number;
  height: number;
  points: number[];
  /** Pixels inside the plot area close to the colour of the chart's first line. */
  linePixels: number;
}

/** The few browser globals the page functions use (the project compiles without the DOM library). */
interface CanvasLike {
  id: string;
  width: number;
  height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
}
interface ChartLike {
  data: {
    datasets: {
      label: string;
      data: { x: number; y: number | null }[];
      borderColor: string;
      inLegend: boolean;
      fill: unknown;
      showLine: boolean;
      hidden?: boolean;
      raw?: (number | null)[] | null;
    }[];
  };
  chartArea: { left: number; top: number; right: number; bottom: number };
  currentDevicePixelRatio: number;
}
interface PageGlobals {
  Chart: { getChart(canvas: CanvasLike): ChartLike | undefined };
  document: { querySelectorAll(selector: string): Iterable<CanvasLike>; getElementById(id: string): (CanvasLike & { toDataURL(): string }) | null };
}

/** In the page: the datasets of one chart (label, points, whether a line joins them, hidden). */
function chartData(id: string) {
  const { Chart, document } = globalThis as unknown as PageGlobals;
  const canvas = document.getElementById(`chart-${id}`);
  const chart = canvas ? Chart.getChart(canvas) : undefined;
  return (chart?.data.datasets ?? []).map((d) => ({
    label: d.label,
    x: d.data.map((p) => p.x),
    y: d.data.map((p) => p.y),
    color: d.borderColor,
    inLegend: d.inLegend,
    showLine: d.showLine,
    hidden: d.hidden === true,
    raw: d.raw ?? null,
  }));
}

/** In the page: the pixels of a chart's canvas as a data URL (to see whether a control redrew it). */
function canvasImage(id: string): string {
  const { document } = globalThis as unknown as PageGlobals;
  return document.getElementById(`chart-${id}`)!.toDataURL();
}

async function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

/** Opens a report and collects its errors and requests. */
async function open(browser: Browser, file: string, hash = '') {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(pathToFileURL(file).href + hash, { waitUntil: 'load' });
  await page.waitForSelector('body[data-charts-ready]');
  return { page, errors, requests };
}

/** Every canvas has a chart with points and its first line painted. */
async function expectChartsPainted(page: Page, planned: string[]): Promise<void> {
  expect(await page.getAttribute('body', 'data-charts-ready')).toBe(String(planned.length));
  const charts = await page.evaluate(inspectCharts);
  expect(charts.map((c) => c.id).sort()).toEqual([...planned].sort());
  for (const c of charts) {
    expect(c.width, c.id).toBeGreaterThan(0);
    expect(c.height, c.id).toBeGreaterThan(0);
    expect(c.points.length, c.id).toBeGreaterThan(0);
    expect(Math.min(...c.points), c.id).toBeGreaterThan(0);
    expect(c.linePixels, `${c.id} has its line painted`).toBeGreaterThan(30);
  }
}

/** In the page: every chart's size, points per dataset, and how many pixels of its first line's colour were painted. */
function inspectCharts(): CanvasCheck[] {
  const { Chart, document } = globalThis as unknown as PageGlobals;
  return [...document.querySelectorAll('canvas')].map((canvas) => {
    const chart = Chart.getChart(canvas);
    if (!chart) return { id: canvas.id, width: canvas.width, height: canvas.height, points: [], linePixels: 0 };
    const line = chart.data.datasets.find((d) => d.inLegend && !d.fill) ?? chart.data.datasets[0]!;
    const hex = line.borderColor;
    const rgb = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    const r = chart.currentDevicePixelRatio;
    const a = chart.chartArea;
    const x0 = Math.floor(a.left * r);
    const y0 = Math.floor(a.top * r);
    const w = Math.max(1, Math.floor((a.right - a.left) * r));
    const h = Math.max(1, Math.floor((a.bottom - a.top) * r));
    const pixels = canvas.getContext('2d')!.getImageData(x0, y0, w, h).data;
    let linePixels = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      const d = Math.abs(pixels[i]! - rgb[0]!) + Math.abs(pixels[i + 1]! - rgb[1]!) + Math.abs(pixels[i + 2]! - rgb[2]!);
      if (pixels[i + 3]! > 200 && d < 60) linePixels++;
    }
    return { id: canvas.id, width: canvas.width, height: canvas.height, points: chart.data.datasets.map((d) => d.data.length), linePixels };
  });
}

describe('report in headless Chromium', () => {
  let browser: Browser;
  let page: Page;
  let dir: string;
  let report: string;
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  const requests: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'grpo-report-'));
    const runDir = path.join(dir, 'run-2024-demo');
    await writeSyntheticRun(runDir, syntheticMetrics(), syntheticSamples(), syntheticConfig());
    report = await writeReport(runDir);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(report).href, { waitUntil: 'load' });
    await page.waitForSelector('body[data-charts-ready]');
  });

  afterAll(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loads without errors and without requests beyond the file itself', () => {
    expect(pageErrors).toEqual([]);
    expect(consoleErrors).toEqual([]);
    expect(requests).toEqual([pathToFileURL(report).href]);
  });

  it('draws every planned chart on a non-empty canvas', async () => {
    const planned = planPanels(syntheticMetrics()).map((p) => `chart-${p.id}`);
    expect(planned.length).toBe(16);
    await expectChartsPainted(page, planned);
  });

  it('plots eval metrics as points only at the steps that have them, with no line between them', async () => {
    const evals = await page.evaluate(chartData, 'eval');
    expect(evals.map((d) => d.x)).toEqual([EVAL_STEPS, EVAL_STEPS]);
    expect(evals.map((d) => d.showLine)).toEqual([false, false]);
  });

  it('lists constant metrics in one summary line instead of drawing flat charts', async () => {
    const line = await page.locator('#constant-metrics').innerText();
    expect(line).toContain('Constant over the whole run');
    expect(line).toContain('rewards/unscored_frac 0.05');
    // No chart draws it: the signal panel has only the fraction of zero-std groups.
    expect((await page.evaluate(chartData, 'groups-without-signal')).filter((d) => d.inLegend).map((d) => d.label)).toEqual(['frac_reward_zero_std']);
    expect(await page.locator('[data-metrics~="rewards/unscored_frac"]').count()).toBe(0);
  });

  it('labels timing panels with their unit', async () => {
    expect(await page.locator('#panel-timing h3').innerText()).toBe('Time per phase');
    expect(await page.locator('#panel-timing').getAttribute('data-metrics')).toBe('timing/generate timing/update');
    const titles = await page.evaluate(() => {
      const { Chart, document } = globalThis as unknown as PageGlobals;
      const axes = (id: string) =>
        (Chart.getChart(document.getElementById(id)!) as unknown as { options: { scales: Record<string, { title: { text: string } }> } }).options.scales;
      return { timing: axes('chart-timing').y!.title.text, throughput: [axes('chart-throughput').y!.title.text, axes('chart-throughput').y2!.title.text] };
    });
    expect(titles).toEqual({ timing: 'seconds / step', throughput: ['seconds / step', 'tokens / s'] });
  });

  it('shows the run config: key settings, and every setting on demand', async () => {
    const key = await page.locator('#config-key').innerText();
    expect(key).toContain('train.learningRate');
    expect(key).toContain('0.000001');
    expect(key).toContain('algorithm.advantage.estimator');
    expect(await page.locator('#config-all summary').innerText()).toMatch(/^All \d+ settings$/);
    expect(await page.locator('#config-all tr', { hasText: 'policy.model.dModel' }).count()).toBe(1);
  });

  it('smooths the training lines with the smoothing control, keeping the raw values faint', async () => {
    const before = await page.evaluate(chartData, 'reward');
    const image = await page.evaluate(canvasImage, 'reward');
    const reward = before.find((d) => d.label === 'reward')!;
    expect(reward.raw).toEqual(reward.y);
    expect(before.find((d) => d.label === 'reward (raw)')!.hidden).toBe(true);
    await page.locator('#smoothing').fill('0.9');
    expect(await page.getAttribute('body', 'data-smoothing')).toBe('0.9');
    expect(await page.locator('#smoothing-value').innerText()).toBe('0.9');
    const after = await page.evaluate(chartData, 'reward');
    const smoothed = after.find((d) => d.label === 'reward')!;
    // TensorBoard's debiased EMA: the first point is unchanged, the rest lag the raw values.
    const expected: number[] = [];
    let last = 0;
    let debias = 0;
    for (const v of reward.raw as number[]) {
      last = last * 0.9 + 0.1 * v;
      debias = debias * 0.9 + 0.1;
      expected.push(last / debias);
    }
    smoothed.y.forEach((y, i) => expect(y).toBeCloseTo(expected[i]!, 10));
    expect(smoothed.y).not.toEqual(reward.y);
    expect(after.find((d) => d.label === 'reward (raw)')!.hidden).toBe(false);
    expect(await page.evaluate(canvasImage, 'reward')).not.toBe(image);
    // Eval points are measurements: never smoothed.
    expect((await page.evaluate(chartData, 'eval')).map((d) => d.raw)).toEqual([null, null]);
    // The setting is kept in the address, so a reload (of a live report) keeps it.
    expect(new URL(page.url()).hash).toBe('#smoothing=0.9');
    await page.locator('#smoothing').fill('0');
    expect((await page.evaluate(chartData, 'reward')).find((d) => d.label === 'reward')!.y).toEqual(reward.y);
  });

  it('shows every sample, grouped by step with the latest first, and keeps markup as text', async () => {
    expect(await page.locator('#samples-table tr.sample').count()).toBe(syntheticSamples().length);
    expect(await page.locator('#samples-table tbody').evaluateAll((els) => els.map((e) => e.getAttribute('data-step')))).toEqual(['15', '10', '5', '0']);
    // The completion's "</script><script>alert(1)</script>" is shown, not run.
    expect(await page.locator('#samples-table pre', { hasText: '<script>alert(1)</script>' }).count()).toBe(4);
    expect(await page.locator('#samples-table script').count()).toBe(0);
  });

  it("shows each group's reference answer next to its prompt", async () => {
    expect(await page.locator('#samples-table thead th').allInnerTexts()).toEqual([
      'Prompt',
      'Reference',
      'Completion',
      'Reward',
      'accuracy',
      'format',
      'Advantage',
    ]);
    expect(await page.locator('#samples-table tbody[data-step="15"] td.reference').allInnerTexts()).toEqual(['17']);
  });

  it('shows the summary', async () => {
    const summary = await page.locator('#summary').innerText();
    expect(summary).toContain('run-2024-demo');
    expect(summary).toContain('20');
    expect(summary).toContain('eval/reward');
    const shot = path.join(process.env.REPORT_SCREENSHOT_DIR ?? dir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
  });
});

describe('report of two runs in headless Chromium', () => {
  let browser: Browser;
  let dir: string;
  let opened: Awaited<ReturnType<typeof open>>;
  let report: string;
  const slower = syntheticMetrics(16).map((r) => ({ ...r, reward: (r.reward as number) + 0.2, learning_rate: 3e-6 }));

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'grpo-report-overlay-'));
    const a = path.join(dir, 'a', 'latest');
    const b = path.join(dir, 'b', 'latest');
    await writeSyntheticRun(a, syntheticMetrics(), syntheticSamples(), syntheticConfig());
    await writeSyntheticRun(b, slower, syntheticSamples().slice(0, 6), syntheticConfig({ learningRate: 3e-6, seed: 1 }));
    report = await writeReport([a, b], { out: path.join(dir, 'compare.html') });
    browser = await launch();
    opened = await open(browser, report);
  });

  afterAll(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loads without errors or requests and paints every chart', async () => {
    expect(opened.errors).toEqual([]);
    expect(opened.requests).toEqual([pathToFileURL(report).href]);
    const planned = planReport([
      { name: 'a/latest', metrics: syntheticMetrics() },
      { name: 'b/latest', metrics: slower },
    ]).panels.map((p) => `chart-${p.id}`);
    expect(planned).toContain('chart-learning-rate');
    await expectChartsPainted(opened.page, planned);
  });

  it('overlays the runs in every chart, one colour per run, names told apart by their parents', async () => {
    const reward = (await opened.page.evaluate(chartData, 'reward')).filter((d) => d.inLegend && !d.label.includes('±'));
    expect(reward.map((d) => d.label)).toEqual(['a/latest', 'b/latest']);
    expect(reward[0]!.color).not.toBe(reward[1]!.color);
    expect(reward.map((d) => d.x.length)).toEqual([20, 16]);
    const lr = (await opened.page.evaluate(chartData, 'learning-rate')).filter((d) => d.inLegend);
    expect(lr.map((d) => d.label)).toEqual(['a/latest', 'b/latest']);
    expect(await opened.page.locator('#summary tbody tr').count()).toBe(2);
    expect(await opened.page.locator('#summary tbody tr').first().innerText()).toContain('a/latest');
  });

  it('shows the settings that differ between the runs', async () => {
    const rows = await opened.page.locator('table.config.differs tbody tr').evaluateAll((els) => els.map((e) => e.getAttribute('data-setting')));
    expect(rows).toEqual(['seed', 'train.learningRate']);
    expect(await opened.page.locator('table.config.differs tr[data-setting="train.learningRate"]').innerText()).toMatch(/0\.000001\s+0\.000003/);
  });

  it('has a table of samples per run', async () => {
    expect(await opened.page.locator('#samples-table-1 tr.sample').count()).toBe(12);
    expect(await opened.page.locator('#samples-table-2 tr.sample').count()).toBe(6);
    const shot = path.join(process.env.REPORT_SCREENSHOT_DIR ?? dir, 'report-overlay.png');
    await opened.page.screenshot({ path: shot, fullPage: true });
  });
});

describe('a live report in headless Chromium', () => {
  let browser: Browser;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'grpo-report-live-'));
    browser = await launch();
  });

  afterAll(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('says it is live, reloads itself and shows the steps written since, keeping the smoothing', async () => {
    const run = path.join(dir, 'run');
    await writeSyntheticRun(run, syntheticMetrics().slice(0, 10), []);
    const live = { updatedAt: new Date('2026-12-01T10:00:00Z'), reloadSeconds: 1 };
    const file = await writeReport(run, { live });
    const { page, errors } = await open(browser, file, '#smoothing=0.5');
    expect(await page.locator('#live').innerText()).toContain('Live: written at 2026-12-01 10:00:00 UTC');
    expect(await page.locator('#summary').innerText()).toContain('0–9');
    // The run goes on: the report is rewritten (atomically) and the open page reloads on its own.
    await writeSyntheticRun(run, syntheticMetrics(), []);
    await writeReport(run);
    await page.waitForFunction(
      () => !(globalThis as unknown as { document: { getElementById(id: string): unknown } }).document.getElementById('live'),
      undefined,
      {
        timeout: 10_000,
      },
    );
    await page.waitForSelector('body[data-charts-ready]');
    expect(await page.locator('#summary').innerText()).toContain('0–19');
    expect(await page.getAttribute('body', 'data-smoothing')).toBe('0.5');
    expect(errors).toEqual([]);
    expect(await readFile(file, 'utf8')).toMatch(/<\/html>\n$/);
  });
});
