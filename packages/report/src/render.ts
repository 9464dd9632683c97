import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { CLIENT_SCRIPT, STYLES } from './client.js';
import type { MetricsRow, RunConfig, SampleRecord } from './data.js';
import { planReport, RUN_COLORS, type ConstantMetric, type PanelSpec } from './panels.js';

/** One run of a report: its name, metrics, samples and recorded config. */
export interface RunData {
  /** Shown in the summary and, with several runs, in every legend (the run directory's name). */
  name?: string;
  metrics: readonly MetricsRow[];
  samples?: readonly SampleRecord[];
  /** The run's `config.json`, when it has one. */
  config?: RunConfig;
  /** Why the run's `config.json` could not be read (the report is written all the same). */
  configError?: string;
}

/** Options of a report page that is rewritten while its run trains. */
export interface LiveOptions {
  /** When the page was written. */
  updatedAt: Date;
  /** The open page reloads itself this often (seconds); 0 = never. */
  reloadSeconds: number;
}

export interface RenderOptions {
  /** Page title and heading; default `GRPO run <runName>` (`GRPO runs a vs b` for several). */
  title?: string;
  /** Name of the run shown in the summary (the run directory's name). */
  runName?: string;
  /** The run's recorded config (`config.json`), shown as its hyper-parameters. */
  config?: RunConfig;
  /** Show samples of this many latest steps that have samples (default 50; `Infinity` for all). */
  maxSampleSteps?: number;
  /** The run is still training: say so, with the time of writing, and reload the page periodically. */
  live?: LiveOptions;
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
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(2).replace(/\.?0+e/, 'e');
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

const swatch = (run: number): string => `<span class="swatch" style="background:${RUN_COLORS[run % RUN_COLORS.length]}"></span>`;

/** The one line that lists the metrics that never changed, instead of flat charts. */
function renderConstants(constants: readonly ConstantMetric[], names: readonly string[]): string {
  if (constants.length === 0) return '';
  const value = (c: ConstantMetric): string => {
    const defined = c.values.filter((v) => v !== undefined);
    if (defined.length === c.values.length && defined.every((v) => v === defined[0])) return escapeHtml(formatNumber(defined[0]));
    return c.values.map((v, i) => `${escapeHtml(names[i] ?? `run ${i + 1}`)} ${v === undefined ? 'not logged' : escapeHtml(formatNumber(v))}`).join(', ');
  };
  const items = constants.map((c) => `<span class="constant" data-metric="${escapeHtml(c.metric)}"><code>${escapeHtml(c.metric)}</code> ${value(c)}</span>`);
  const scope = names.length > 1 ? 'in each run' : 'over the whole run';
  return `<p class="constants" id="constant-metrics"><strong>Constant ${scope}</strong> (not charted): ${items.join(' · ')}</p>`;
}

/** Settings shown first, when the config has them. */
const KEY_SETTINGS = [
  'train.steps',
  'train.promptsPerStep',
  'train.groupSize',
  'train.learningRate',
  'algorithm.advantage.estimator',
  'algorithm.objective.name',
  'algorithm.lossAggregation',
  'algorithm.kl.beta',
  'generation.temperature',
  'generation.maxNewTokens',
  'policy.checkpoint',
  'seed',
  'backend',
];

const configTable = (rows: readonly string[], head: string, cls = ''): string =>
  `<table class="config${cls ? ` ${cls}` : ''}"><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table>`;

/** The runs' recorded configs: key settings and every setting of one run, or the settings that differ between runs. */
function renderConfig(runs: readonly RunData[], names: readonly string[]): string {
  const notes = runs
    .map((r, i) =>
      r.configError
        ? `<p class="warn">${escapeHtml(names[i]!)}: ${escapeHtml(r.configError)}</p>`
        : !r.config
          ? `<p class="muted">${runs.length > 1 ? `${escapeHtml(names[i]!)}: ` : ''}no config.json in the run directory, so its settings are not shown (runs record their resolved config there).</p>`
          : '',
    )
    .join('');
  const maps = runs.map((r) => (r.config ? new Map(r.config.entries) : undefined));
  const keys = [...new Set(runs.flatMap((r) => r.config?.entries.map(([k]) => k) ?? []))];
  if (keys.length === 0) return notes;
  const cell = (v: string | undefined) => (v === undefined ? '<td class="na">—</td>' : `<td><code>${escapeHtml(v)}</code></td>`);
  if (runs.length === 1) {
    const map = maps[0]!;
    const key = [...KEY_SETTINGS.filter((k) => map.has(k)), ...keys.filter((k) => /^versions?\./.test(k)).slice(0, 6)];
    const items = key.map((k) => `<div><dt>${escapeHtml(k)}</dt><dd><code>${escapeHtml(map.get(k)!)}</code></dd></div>`).join('');
    const all = keys.map((k) => `<tr><th>${escapeHtml(k)}</th>${cell(map.get(k))}</tr>`);
    return (
      notes +
      (items ? `<dl class="settings" id="config-key">${items}</dl>` : '') +
      `<details id="config-all"><summary>All ${keys.length} settings</summary>${configTable(all, '<th>Setting</th><th>Value</th>')}</details>`
    );
  }
  const differs = (k: string) => new Set(maps.map((m) => (m ? (m.get(k) ?? '\u0000absent') : '\u0000none'))).size > 1;
  const head = `<th>Setting</th>${names.map((n, i) => `<th>${swatch(i)}${escapeHtml(n)}</th>`).join('')}`;
  const row = (k: string) =>
    `<tr data-setting="${escapeHtml(k)}"><th>${escapeHtml(k)}</th>${maps.map((m) => (m ? cell(m.get(k)) : '<td class="na">—</td>')).join('')}</tr>`;
  const changed = keys.filter(differs);
  const same = keys.filter((k) => !differs(k));
  return (
    notes +
    (changed.length
      ? `<p>${changed.length} setting${changed.length === 1 ? '' : 's'} differ between the runs:</p>${configTable(changed.map(row), head, 'differs')}`
      : '<p class="muted">The runs have the same settings.</p>') +
    (same.length ? `<details id="config-all"><summary>${same.length} settings the runs share</summary>${configTable(same.map(row), head)}</details>` : '')
  );
}

/** The summary of several runs: one row each. */
function renderSummaryTable(summaries: readonly ReportSummary[], names: readonly string[]): string {
  const evalKeys = [...new Set(summaries.flatMap((s) => Object.keys(s.lastEval?.metrics ?? {})))];
  const head = ['Run', 'Steps', 'First reward', 'Last reward', ...evalKeys, 'Training time'].map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const rows = summaries.map((s, i) => {
    const cells = [
      `<th>${swatch(i)}${escapeHtml(names[i]!)}</th>`,
      `<td class="num">${s.steps}${s.steps ? ` <small>${s.firstStep}–${s.lastStep}</small>` : ''}</td>`,
      `<td class="num">${escapeHtml(formatNumber(s.firstReward?.value))}</td>`,
      `<td class="num">${escapeHtml(formatNumber(s.lastReward?.value))}</td>`,
      ...evalKeys.map((k) => `<td class="num">${escapeHtml(formatNumber(s.lastEval?.metrics[k]))}</td>`),
      `<td class="num">${s.totalSeconds !== undefined ? escapeHtml(formatDuration(s.totalSeconds)) : '—'}</td>`,
    ];
    return `<tr data-run="${i}">${cells.join('')}</tr>`;
  });
  return `<table class="summary-table" id="summary"><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

const numCell = (v: number | null, signed = false): string => {
  const cls = v === null ? 'na' : signed && v > 0 ? 'pos' : signed && v < 0 ? 'neg' : '';
  const text = v !== null && signed && v > 0 ? `+${formatNumber(v)}` : formatNumber(v);
  return `<td class="num${cls ? ` ${cls}` : ''}">${text}</td>`;
};

function renderSamples(samples: readonly SampleRecord[], maxSteps: number, id: string): string {
  if (samples.length === 0) return `<p class="muted">No sample completions were logged (no samples.jsonl, or it is empty).</p>`;
  const fns = [...new Set(samples.flatMap((s) => Object.keys(s.rewards)))];
  const withReference = samples.some((s) => s.reference !== undefined);
  const byStep = new Map<number, SampleRecord[]>();
  for (const s of samples) byStep.set(s.step, [...(byStep.get(s.step) ?? []), s]);
  const steps = [...byStep.keys()].sort((a, b) => b - a);
  const shown = steps.slice(0, Math.max(0, maxSteps));
  const columns = 4 + fns.length + (withReference ? 1 : 0);
  const groups = shown.map((step) => {
    const rows = byStep.get(step)!;
    const html: string[] = [`<tr class="step-row"><th colspan="${columns}">Step ${step}</th></tr>`];
    rows.forEach((s, i) => {
      // A prompt shared by consecutive completions (one GRPO group) is shown once, with its reference answer.
      let span = 0;
      const same = (o: SampleRecord | undefined) => o !== undefined && o.prompt === s.prompt && o.reference === s.reference;
      if (i === 0 || !same(rows[i - 1])) while (same(rows[i + span])) span++;
      const rowspan = span > 1 ? ` rowspan="${span}"` : '';
      const prompt = span ? `<td class="prompt"${rowspan}><pre>${escapeHtml(s.prompt)}</pre></td>` : '';
      const reference =
        span && withReference
          ? `<td class="reference${s.reference === undefined ? ' na' : ''}"${rowspan}>${s.reference === undefined ? '—' : `<pre>${escapeHtml(s.reference)}</pre>`}</td>`
          : '';
      html.push(
        `<tr class="sample">${prompt}${reference}<td class="completion"><pre>${escapeHtml(s.completion)}</pre></td>${numCell(s.reward)}` +
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
    `<table class="samples" id="${id}"><colgroup><col class="prompt">${withReference ? '<col class="reference">' : ''}<col class="completion">${'<col class="num">'.repeat(columns - 2 - (withReference ? 1 : 0))}</colgroup>` +
    `<thead><tr><th>Prompt</th>${withReference ? '<th>Reference</th>' : ''}<th>Completion</th><th>Reward</th>${fns.map((f) => `<th>${escapeHtml(f)}</th>`).join('')}<th>Advantage</th></tr></thead>` +
    groups.join('') +
    `</table>`
  );
}

/** Display names: the runs' own, numbered where absent, with ` (2)`… added where two are alike. */
function runNames(runs: readonly RunData[]): string[] {
  const seen = new Map<string, number>();
  return runs.map((r, i) => {
    const base = r.name ?? (runs.length > 1 ? `run ${i + 1}` : '');
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return n > 1 ? `${base} (${n})` : base;
  });
}

/**
 * The report page of one run as a self-contained HTML string: Chart.js and the data are inlined,
 * so it opens without network access. Pure apart from reading the Chart.js bundle once.
 */
export function renderReport(metrics: readonly MetricsRow[], samples: readonly SampleRecord[] = [], options: RenderOptions = {}): string {
  const { runName, config, ...rest } = options;
  return renderRuns([{ ...(runName !== undefined ? { name: runName } : {}), metrics, samples, ...(config ? { config } : {}) }], rest);
}

/**
 * The report page of one or several runs: with several, every chart overlays them (one colour per
 * run), the summary has a row per run, the settings table shows where their configs differ, and
 * each run has its own table of samples. Self-contained like `renderReport`.
 */
export function renderRuns(runs: readonly RunData[], options: Omit<RenderOptions, 'runName' | 'config'> = {}): string {
  if (runs.length === 0) throw new Error('renderRuns needs at least one run');
  const names = runNames(runs);
  const single = runs.length === 1;
  const { panels, constants } = planReport(runs.map((r, i) => ({ name: names[i]!, metrics: r.metrics })));
  const summaries = runs.map((r, i) => summarize(r.metrics, single ? r.name : names[i]));
  const title =
    options.title ?? (single ? (runs[0]!.name !== undefined ? `GRPO run ${runs[0]!.name}` : 'GRPO training report') : `GRPO runs ${names.join(' vs ')}`);
  const steps = runs.flatMap((r) => r.metrics.map((m) => m.step));
  const live = options.live;
  const data = {
    title,
    runs: names.map((name, i) => ({ name, color: RUN_COLORS[i % RUN_COLORS.length] })),
    xMin: Math.min(...steps),
    xMax: Math.max(...steps),
    panels,
    ...(live ? { live: { reloadSeconds: live.reloadSeconds } } : {}),
  };
  const training = renderPanels(panels, 'training');
  const other = renderPanels(panels, 'other');
  const liveBanner = live
    ? `<p class="live" id="live">Live: written at ${escapeHtml(live.updatedAt.toISOString().replace('T', ' ').slice(0, 19))} UTC while the run trains${
        live.reloadSeconds > 0 ? `; this page reloads every ${live.reloadSeconds} s <label><input type="checkbox" id="auto-reload" checked> reload</label>` : ''
      }</p>`
    : '';
  const samples = single
    ? renderSamples(runs[0]!.samples ?? [], options.maxSampleSteps ?? 50, 'samples-table')
    : runs
        .map(
          (r, i) =>
            `<section class="run-samples" data-run="${i}"><h3>${swatch(i)}${escapeHtml(names[i]!)}</h3>${renderSamples(r.samples ?? [], options.maxSampleSteps ?? 50, `samples-table-${i + 1}`)}</section>`,
        )
        .join('\n');
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
${liveBanner}
${single ? renderSummary(summaries[0]!) : renderSummaryTable(summaries, names)}
</header>
<main>
<h2 id="config">Configuration</h2>
${renderConfig(runs, names)}
<h2>Training metrics</h2>
<div class="controls" id="controls"><label for="smoothing">Smoothing</label> <input type="range" id="smoothing" min="0" max="0.99" step="0.01" value="0"> <output id="smoothing-value" for="smoothing">0</output> <span class="muted">exponential moving average, as in TensorBoard; the raw values stay visible, faint</span></div>
${renderConstants(constants, names)}
${training ? `<div class="grid" id="training-panels">\n${training}\n</div>` : '<p class="muted">No training metrics to chart.</p>'}
${other ? `<h2>Other metrics</h2>\n<div class="grid other" id="other-panels">\n${other}\n</div>` : ''}
<h2 id="samples">Sample completions</h2>
${samples}
</main>
<script type="application/json" id="report-data">${jsonForScript(data)}</script>
<script>${inlineScript(chartJs())}</script>
<script>${inlineScript(CLIENT_SCRIPT)}</script>
</body>
</html>
`;
}
