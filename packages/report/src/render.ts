import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { CLIENT_SCRIPT, STYLES } from './client.js';
import type { MetricsRow, SampleRecord } from './data.js';
import { planPanels, type PanelSpec } from './panels.js';

export interface RenderOptions {
  /** Page title and heading; default `GRPO run <runName>`. */
  title?: string;
  /** Name of the run shown in the summary (the run directory's name). */
  runName?: string;
  /** Show samples of this many latest steps that have samples (default 50; `Infinity` for all). */
  maxSampleSteps?: number;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * JSON that is safe inside a `<script>` element: `<` is written as `\u003c`, so neither
 * `</script` nor `<!--` can occur, and the text still parses to the same value.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Makes script source safe to inline: `</script` and `<!--` cannot end or confuse the element. */
function inlineScript(source: string): string {
  return source
    .replace(/<\/(script)/gi, '<\\/$1')
    .replace(/<!--/g, '<\\!--')
    .replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n');
}

let chartJsSource: string | undefined;

/** The Chart.js UMD bundle (its package exports do not list it, so it is found next to the main file). */
function chartJs(): string {
  if (chartJsSource === undefined) {
    const main = createRequire(import.meta.url).resolve('chart.js');
    chartJsSource = readFileSync(path.join(path.dirname(main), 'chart.umd.js'), 'utf8');
  }
  return chartJsSource;
}

/** A number for people: integers as they are, others to 4 significant digits. */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  if (Number.isInteger(value) && Math.abs(value) < 1e9) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(2);
  return String(Number(value.toPrecision(4)));
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The facts of the summary header. */
export interface ReportSummary {
  runName?: string;
  steps: number;
  firstStep: number;
  lastStep: number;
  /** Reward of the first step that has one. */
  firstReward?: { step: number; value: number };
  /** Mean reward of the last (up to) 5 steps that have one. */
  lastReward?: { steps: number; value: number };
  /** Eval metrics of the last step that ran an evaluation. */
  lastEval?: { step: number; metrics: Record<string, number | null> };
  /** Sum of `step_time`, in seconds. */
  totalSeconds?: number;
}

export function summarize(metrics: readonly MetricsRow[], runName?: string): ReportSummary {
  const rewards = metrics.filter((r): r is MetricsRow & { reward: number } => typeof r.reward === 'number');
  const last5 = rewards.slice(-5);
  const evalRow = [...metrics].reverse().find((r) => Object.keys(r).some((k) => k.startsWith('eval/')));
  const times = metrics.map((r) => r.step_time).filter((t): t is number => typeof t === 'number');
  return {
    ...(runName !== undefined ? { runName } : {}),
    steps: metrics.length,
    firstStep: metrics[0]?.step ?? 0,
    lastStep: metrics[metrics.length - 1]?.step ?? 0,
    ...(rewards[0] ? { firstReward: { step: rewards[0].step, value: rewards[0].reward } } : {}),
    ...(last5.length ? { lastReward: { steps: last5.length, value: mean(last5.map((r) => r.reward)) } } : {}),
    ...(evalRow
      ? {
          lastEval: {
            step: evalRow.step,
            metrics: Object.fromEntries(Object.entries(evalRow).filter(([k]) => k.startsWith('eval/'))) as Record<string, number | null>,
          },
        }
      : {}),
    ...(times.length ? { totalSeconds: times.reduce((a, b) => a + b, 0) } : {}),
  };
}

function formatDuration(seconds: number): string {
  if (seconds < 60) return `${formatNumber(seconds)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${Math.round(seconds - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function renderSummary(s: ReportSummary): string {
  const item = (label: string, value: string, note = '') =>
    `<div><dt>${escapeHtml(label)}</dt><dd>${escapeHtml(value)}${note ? ` <small>${escapeHtml(note)}</small>` : ''}</dd></div>`;
  const items = [
    ...(s.runName !== undefined ? [item('Run', s.runName)] : []),
    item('Steps', String(s.steps), s.steps ? `${s.firstStep}–${s.lastStep}` : ''),
    ...(s.firstReward ? [item('First reward', formatNumber(s.firstReward.value), `step ${s.firstReward.step}`)] : []),
    ...(s.lastReward ? [item('Last reward', formatNumber(s.lastReward.value), `mean of last ${s.lastReward.steps} steps`)] : []),
    ...(s.lastEval ? Object.entries(s.lastEval.metrics).map(([k, v]) => item(k, formatNumber(v), `step ${s.lastEval!.step}`)) : []),
    ...(s.totalSeconds !== undefined ? [item('Training time', formatDuration(s.totalSeconds))] : []),
  ];
  return `<dl class="summary" id="summary">${items.join('')}</dl>`;
}

function renderPanels(panels: readonly PanelSpec[], group: PanelSpec['group']): string {
  return panels
    .filter((p) => p.group === group)
    .map(
      (p) =>
        `<section class="panel" id="panel-${escapeHtml(p.id)}" data-metrics="${escapeHtml(p.metrics.join(' '))}"><h3>${escapeHtml(p.title)}</h3>` +
        `<div class="chart-box"><canvas id="chart-${escapeHtml(p.id)}" role="img" aria-label="${escapeHtml(p.title)}"></canvas></div></section>`,
    )
    .join('\n');
}

const numCell = (v: number | null, signed = false): string => {
  const cls = v === null ? 'na' : signed && v > 0 ? 'pos' : signed && v < 0 ? 'neg' : '';
  const text = v !== null && signed && v > 0 ? `+${formatNumber(v)}` : formatNumber(v);
  return `<td class="num${cls ? ` ${cls}` : ''}">${text}</td>`;
};

function renderSamples(samples: readonly SampleRecord[], maxSteps: number): string {
  if (samples.length === 0) return `<p class="muted">No sample completions were logged (no samples.jsonl, or it is empty).</p>`;
  const fns = [...new Set(samples.flatMap((s) => Object.keys(s.rewards)))];
  const byStep = new Map<number, SampleRecord[]>();
  for (const s of samples) byStep.set(s.step, [...(byStep.get(s.step) ?? []), s]);
  const steps = [...byStep.keys()].sort((a, b) => b - a);
  const shown = steps.slice(0, Math.max(0, maxSteps));
  const columns = 4 + fns.length;
  const groups = shown.map((step) => {
    const rows = byStep.get(step)!;
    const html: string[] = [`<tr class="step-row"><th colspan="${columns}">Step ${step}</th></tr>`];
    rows.forEach((s, i) => {
      // A prompt shared by consecutive completions (one GRPO group) is shown once.
      let span = 0;
      if (i === 0 || rows[i - 1]!.prompt !== s.prompt) while (rows[i + span]?.prompt === s.prompt) span++;
      const prompt = span ? `<td class="prompt"${span > 1 ? ` rowspan="${span}"` : ''}><pre>${escapeHtml(s.prompt)}</pre></td>` : '';
      html.push(
        `<tr class="sample">${prompt}<td class="completion"><pre>${escapeHtml(s.completion)}</pre></td>${numCell(s.reward)}` +
          fns.map((f) => numCell(s.rewards[f] ?? null)).join('') +
          `${numCell(s.advantage, true)}</tr>`,
      );
    });
    return `<tbody data-step="${step}">${html.join('')}</tbody>`;
  });
  const note =
    shown.length < steps.length
      ? `${samples.length} samples from ${steps.length} steps; the latest ${shown.length} steps are shown, latest first.`
      : `${samples.length} samples from ${steps.length} step${steps.length === 1 ? '' : 's'}, latest first.`;
  return (
    `<p class="muted">${note} Rewards per function: — where the function did not apply.</p>` +
    `<table class="samples" id="samples-table"><colgroup><col class="prompt"><col class="completion">${'<col class="num">'.repeat(columns - 2)}</colgroup>` +
    `<thead><tr><th>Prompt</th><th>Completion</th><th>Reward</th>${fns.map((f) => `<th>${escapeHtml(f)}</th>`).join('')}<th>Advantage</th></tr></thead>` +
    groups.join('') +
    `</table>`
  );
}

/**
 * The report page of a run as a self-contained HTML string: Chart.js and the data are inlined,
 * so it opens without network access. Pure apart from reading the Chart.js bundle once.
 */
export function renderReport(metrics: readonly MetricsRow[], samples: readonly SampleRecord[] = [], options: RenderOptions = {}): string {
  const panels = planPanels(metrics);
  const summary = summarize(metrics, options.runName);
  const title = options.title ?? (options.runName !== undefined ? `GRPO run ${options.runName}` : 'GRPO training report');
  const data = { title, summary, panels };
  const training = renderPanels(panels, 'training');
  const other = renderPanels(panels, 'other');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="@grpo/report">
<title>${escapeHtml(title)}</title>
<style>${STYLES}</style>
</head>
<body>
<header>
<h1>${escapeHtml(title)}</h1>
${renderSummary(summary)}
</header>
<main>
<h2>Training metrics</h2>
${training ? `<div class="grid" id="training-panels">\n${training}\n</div>` : '<p class="muted">No training metrics to chart.</p>'}
${other ? `<h2>Other metrics</h2>\n<div class="grid other" id="other-panels">\n${other}\n</div>` : ''}
<h2 id="samples">Sample completions</h2>
${renderSamples(samples, options.maxSampleSteps ?? 50)}
</main>
<script type="application/json" id="report-data">${jsonForScript(data)}</script>
<script>${inlineScript(chartJs())}</script>
<script>${inlineScript(CLIENT_SCRIPT)}</script>
</body>
</html>
`;
}
