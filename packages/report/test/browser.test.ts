import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planPanels, writeReport } from '../src/index.js';
import { EVAL_STEPS, syntheticMetrics, syntheticSamples, writeSyntheticRun } from './synthetic.js';

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
  data: { datasets: { data: { x: number }[]; borderColor: string; inLegend: boolean; fill: unknown }[] };
  chartArea: { left: number; top: number; right: number; bottom: number };
  currentDevicePixelRatio: number;
}
interface PageGlobals {
  Chart: { getChart(canvas: CanvasLike): ChartLike | undefined };
  document: { querySelectorAll(selector: string): Iterable<CanvasLike>; getElementById(id: string): CanvasLike | null };
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
    await writeSyntheticRun(runDir);
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
    expect(planned.length).toBe(15);
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
  });

  it('plots eval metrics only at the steps that have them', async () => {
    const counts = await page.evaluate(() => {
      const { Chart, document } = globalThis as unknown as PageGlobals;
      const canvas = document.getElementById('chart-eval');
      const chart = canvas ? Chart.getChart(canvas) : undefined;
      return chart?.data.datasets.map((d) => d.data.map((p) => p.x));
    });
    expect(counts).toEqual([EVAL_STEPS, EVAL_STEPS]);
  });

  it('shows every sample, grouped by step with the latest first, and keeps markup as text', async () => {
    expect(await page.locator('#samples-table tr.sample').count()).toBe(syntheticSamples().length);
    expect(await page.locator('#samples-table tbody').evaluateAll((els) => els.map((e) => e.getAttribute('data-step')))).toEqual(['15', '10', '5', '0']);
    // The completion's "</script><script>alert(1)</script>" is shown, not run.
    expect(await page.locator('#samples-table pre', { hasText: '<script>alert(1)</script>' }).count()).toBe(4);
    expect(await page.locator('#samples-table script').count()).toBe(0);
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
