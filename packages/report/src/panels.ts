import type { MetricsRow } from './data.js';

/** One line of a chart: `y[i]` at step `x[i]`; `null` draws a gap. */
export interface DatasetSpec {
  label: string;
  /** The metric the line draws. */
  metric: string;
  /** Index of the run it belongs to (in the order the runs were given). */
  run: number;
  x: number[];
  y: (number | null)[];
  color: string;
  /** `y2` is the right-hand axis. */
  axis: 'y' | 'y2';
  /** Shade the area down to the previous dataset (the upper edge of a band); drawn without a line. */
  fill?: boolean;
  /** Left out of the legend (the lower edge of a band). */
  legend?: boolean;
  /** Dash pattern of the line (canvas `setLineDash`); solid when absent. */
  dash?: number[];
  /** Draw a marker at every point (sparse series such as eval metrics). */
  points?: boolean;
  /** Marker shape (Chart.js `pointStyle`), to tell metrics apart when runs share a colour. */
  pointStyle?: string;
  /** `false`: markers only, no line between them (evaluations, which happen at a few steps). */
  showLine?: boolean;
  /** The page's smoothing control applies to this line (dense training series, not markers). */
  smooth?: boolean;
}

/** One chart. */
export interface PanelSpec {
  id: string;
  title: string;
  /** `training` panels come first; `other` holds every metric no panel covers, one chart each. */
  group: 'training' | 'other';
  /** The metrics the chart draws. */
  metrics: string[];
  yTitle?: string;
  y2Title?: string;
  datasets: DatasetSpec[];
}

/** The metrics of one run, for planning a report of one or several runs. */
export interface RunMetrics {
  name: string;
  metrics: readonly MetricsRow[];
}

/** A metric that keeps one value over the whole run: summarised in one line rather than drawn flat. */
export interface ConstantMetric {
  metric: string;
  /** Its value in each run, in the order the runs were given; `undefined` where a run did not log it. */
  values: (number | null | undefined)[];
}

/** What a report draws: its charts, and the constant metrics it lists instead of charting. */
export interface ReportPlan {
  panels: PanelSpec[];
  constants: ConstantMetric[];
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];
/** Colours of overlaid runs: one per run, the same in every chart. */
export const RUN_COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#17becf', '#8c564b', '#e377c2', '#bcbd22', '#7f7f7f'];
/** When runs share a colour, the metrics of a chart differ in dash pattern and marker. */
const DASHES: number[][] = [[], [6, 4], [2, 3], [10, 3, 2, 3]];
const POINT_STYLES = ['circle', 'rect', 'triangle', 'rectRot', 'star', 'crossRot'];

/** Every metric name in the runs, in first-seen order. */
function metricNames(runs: readonly RunMetrics[]): string[] {
  const names = new Set<string>();
  for (const run of runs) for (const row of run.metrics) for (const name of Object.keys(row)) if (name !== 'step') names.add(name);
  return [...names];
}

/** The points of one metric: only the steps whose row has it. */
function series(rows: readonly MetricsRow[], metric: string): { x: number[]; y: (number | null)[] } {
  const x: number[] = [];
  const y: (number | null)[] = [];
  for (const row of rows) {
    const v = row[metric];
    if (v === undefined) continue;
    x.push(row.step);
    y.push(v);
  }
  return { x, y };
}

/** `center ± spread` at the steps that have both. */
function band(rows: readonly MetricsRow[], center: string, spread: string): { x: number[]; lower: (number | null)[]; upper: (number | null)[] } {
  const x: number[] = [];
  const lower: (number | null)[] = [];
  const upper: (number | null)[] = [];
  for (const row of rows) {
    const c = row[center];
    const s = row[spread];
    if (c === undefined || s === undefined) continue;
    x.push(row.step);
    lower.push(c === null || s === null ? null : c - s);
    upper.push(c === null || s === null ? null : c + s);
  }
  return { x, lower, upper };
}

/**
 * The value of a metric that never changes within any run, per run (`undefined` where a run lacks
 * it); `false` when it changes somewhere or has fewer than two points in total (one point is not a
 * flat line, it is one measurement).
 */
function constantValues(runs: readonly RunMetrics[], metric: string): (number | null | undefined)[] | false {
  let points = 0;
  const values: (number | null | undefined)[] = [];
  for (const run of runs) {
    let value: number | null | undefined;
    for (const row of run.metrics) {
      const v = row[metric];
      if (v === undefined) continue;
      if (points > 0 && value !== undefined && v !== value) return false;
      value = v;
      points++;
    }
    values.push(value);
  }
  return points >= 2 ? values : false;
}

/** A y-axis title with the unit a metric's name implies (`*_time`, `timing/*` are seconds, `*_ms` milliseconds). */
export function unitOf(metric: string): string | undefined {
  if (/tokens_per_sec$|tokens\/s$/.test(metric)) return 'tokens / s';
  if (/(^|\/)timing\/|(^|[/_])time$|(_|\/)seconds?$|_secs?$|_s$/.test(metric)) return 'seconds';
  if (/_ms$/.test(metric)) return 'milliseconds';
  return undefined;
}

const slug = (name: string): string =>
  name
    .toLowerCase()
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-|-$/g, '') || 'metric';

/**
 * Decides the charts of one or several runs from their metrics. A panel whose metrics are absent
 * is left out; a metric that keeps one value over a whole run is not drawn as a flat line but
 * listed in `constants`; every other metric no panel covers gets a chart of its own in the `other`
 * group, so nothing is dropped. With several runs every chart overlays them: one colour per run,
 * and within a chart one dash pattern (and marker) per metric.
 */
export function planReport(runs: readonly RunMetrics[]): ReportPlan {
  const overlay = runs.length > 1;
  const names = metricNames(runs);
  const present = new Set(names);
  const constant = new Map<string, (number | null | undefined)[]>();
  for (const name of names) {
    const values = constantValues(runs, name);
    if (values) constant.set(name, values);
  }
  /** A metric drawn as a line of its own: logged, and not constant. */
  const has = (name: string) => present.has(name) && !constant.has(name);
  const covered = new Set<string>();
  /** Metrics covered since the last panel was added: the metrics of the panel being built. */
  let pending: string[] = [];
  /** Metrics drawn as lines in the panel being built (their order gives dash and marker). */
  let lines: string[] = [];
  const cover = (metric: string): void => {
    if (!covered.has(metric)) pending.push(metric);
    covered.add(metric);
  };
  const panels: PanelSpec[] = [];
  const ids = new Set<string>();

  const uniqueId = (base: string): string => {
    let id = slug(base);
    for (let i = 2; ids.has(id); i++) id = `${slug(base)}-${i}`;
    ids.add(id);
    return id;
  };

  /** The colour of a dataset: the metric's own in a one-run report, the run's when runs are overlaid. */
  const colorOf = (metricColor: string, run: number) => (overlay ? RUN_COLORS[run % RUN_COLORS.length]! : metricColor);

  /** One line per run that logged the metric; marks it covered. */
  const line = (metric: string, color: string, extra: Partial<DatasetSpec> = {}): DatasetSpec[] => {
    cover(metric);
    if (!lines.includes(metric)) lines.push(metric);
    const style = lines.indexOf(metric);
    return runs.flatMap((run, r) => {
      const s = series(run.metrics, metric);
      if (s.x.length === 0) return [];
      const sparse = s.x.length <= 1 || s.x.length < run.metrics.length / 2;
      const dataset: DatasetSpec = {
        label: metric,
        metric,
        run: r,
        x: s.x,
        y: s.y,
        color: colorOf(color, r),
        axis: 'y',
        points: sparse,
        smooth: !sparse,
        ...(overlay && style > 0 ? { dash: DASHES[style % DASHES.length]! } : {}),
        ...(overlay ? { pointStyle: POINT_STYLES[style % POINT_STYLES.length]! } : {}),
        ...extra,
      };
      return [dataset];
    });
  };

  /** Lower and upper edges of a shaded band per run; the lower edge is left out of the legend. */
  const edges = (
    metric: string,
    color: string,
    label: string,
    edge: (rows: readonly MetricsRow[]) => { x: number[]; lower: (number | null)[]; upper: (number | null)[] },
  ): DatasetSpec[] =>
    runs.flatMap((run, r) => {
      const b = edge(run.metrics);
      if (b.x.length === 0) return [];
      const c = colorOf(color, r);
      return [
        { label: `${label} (lower)`, metric, run: r, x: b.x, y: b.lower, color: c, axis: 'y', legend: false, smooth: true },
        { label, metric, run: r, x: b.x, y: b.upper, color: c, axis: 'y', fill: true, smooth: true },
      ];
    });

  /** `center ± spread` as a band under the center's line. */
  const stdBand = (center: string, spread: string, color: string): DatasetSpec[] => {
    cover(spread);
    return edges(spread, color, `± ${spread}`, (rows) => band(rows, center, spread));
  };

  /** The range between two metrics (min–max) as a band. */
  const shade = (lower: string, upper: string, color: string, label: string): DatasetSpec[] => {
    cover(lower);
    cover(upper);
    return edges(upper, color, label, (rows) => {
      const lo = series(rows, lower);
      const up = series(rows, upper);
      const hi = new Map(up.x.map((step, i) => [step, up.y[i]!] as const));
      const x: number[] = [];
      const l: (number | null)[] = [];
      const u: (number | null)[] = [];
      lo.x.forEach((step, i) => {
        if (!hi.has(step)) return;
        x.push(step);
        l.push(lo.y[i]!);
        u.push(hi.get(step)!);
      });
      return { x, lower: l, upper: u };
    });
  };

  const panel = (title: string, datasets: DatasetSpec[], extra: Partial<PanelSpec> = {}): void => {
    const metrics = pending;
    const drawn = lines;
    pending = [];
    lines = [];
    if (datasets.length === 0) return;
    if (overlay) {
      // Legends name the run; the metric too when the chart has several.
      for (const d of datasets) {
        const run = runs[d.run]!.name;
        const metricLabel = d.fill || d.legend === false ? d.label : d.metric;
        d.label = drawn.length > 1 || d.fill || d.legend === false ? `${run} · ${metricLabel}` : run;
      }
    }
    panels.push({ ...extra, id: uniqueId(extra.id ?? title), title, group: 'training', metrics, datasets });
  };

  // Reward, with the mean within-group std as a band.
  if (has('reward')) {
    const ds = [...(present.has('reward_std') ? stdBand('reward', 'reward_std', PALETTE[0]!) : []), ...line('reward', PALETTE[0]!)];
    panel('Reward', ds);
  }

  // One panel per reward function: rewards/<fn>/mean (± rewards/<fn>/std).
  for (const name of names) {
    const fn = /^rewards\/(.+)\/mean$/.exec(name)?.[1];
    if (fn === undefined || !has(name)) continue;
    const std = `rewards/${fn}/std`;
    const color = PALETTE[(panels.length + 1) % PALETTE.length]!;
    const ds = [...(present.has(std) ? stdBand(name, std, color) : []), ...line(name, color)];
    panel(`Reward: ${fn}`, ds, { id: `reward-${fn}` });
  }

  // Groups that carry no learning signal.
  {
    const ds = ['frac_reward_zero_std', 'rewards/unscored_frac'].filter(has).flatMap((m, i) => line(m, PALETTE[i + 3]!));
    panel('Groups without signal', ds, { yTitle: 'fraction' });
  }

  if (has('kl')) panel('KL divergence to the reference', line('kl', PALETTE[3]!), { id: 'kl' });
  if (has('entropy')) panel('Entropy', line('entropy', PALETTE[4]!), { id: 'entropy', yTitle: 'nats / token' });

  // Clipping of the importance ratio.
  {
    const keys = ['clip_ratio/low_mean', 'clip_ratio/high_mean', 'clip_ratio/region_mean', 'clip_ratio/dual_mean'];
    const ds = keys.filter(has).flatMap((m, i) => line(m, PALETTE[i]!, m === 'clip_ratio/region_mean' && !overlay ? { dash: [6, 4], color: PALETTE[7]! } : {}));
    panel('Clip ratio', ds, { yTitle: 'fraction of tokens' });
  }

  // Completion lengths with their min–max range.
  if (has('completions/mean_length')) {
    const range =
      present.has('completions/min_length') && present.has('completions/max_length')
        ? shade('completions/min_length', 'completions/max_length', PALETTE[2]!, 'min – max length')
        : [];
    panel('Completion length', [...range, ...line('completions/mean_length', PALETTE[2]!)], { yTitle: 'tokens' });
  }
  if (has('completions/clipped_ratio'))
    panel('Truncated completions', line('completions/clipped_ratio', PALETTE[1]!), { id: 'clipped-ratio', yTitle: 'fraction at the token limit' });

  // Loss (left axis) and gradient norm (right axis).
  if (has('loss') || has('grad_norm')) {
    const ds = [
      ...(has('loss') ? line('loss', PALETTE[0]!) : []),
      ...(has('grad_norm') ? line('grad_norm', PALETTE[1]!, { axis: has('loss') ? 'y2' : 'y' }) : []),
    ];
    panel('Loss and gradient norm', ds, {
      id: 'loss',
      yTitle: has('loss') ? 'loss' : 'grad_norm',
      ...(has('loss') && has('grad_norm') ? { y2Title: 'grad_norm' } : {}),
    });
  }
  if (has('learning_rate')) panel('Learning rate', line('learning_rate', PALETTE[4]!), { id: 'learning-rate' });

  // Evaluation metrics: measurements at the few steps that ran an evaluation, drawn as markers.
  {
    const evalNames = names.filter((n) => n.startsWith('eval/') && has(n));
    const ds = evalNames.flatMap((m, i) => line(m, PALETTE[i % PALETTE.length]!, { points: true, showLine: false, smooth: false }));
    panel('Evaluation', ds, { id: 'eval' });
  }

  // Throughput: seconds per step (left) and generated tokens per second (right).
  if (has('step_time') || has('tokens_per_sec')) {
    const ds = [
      ...(has('step_time') ? line('step_time', PALETTE[5]!) : []),
      ...(has('tokens_per_sec') ? line('tokens_per_sec', PALETTE[7]!, { axis: has('step_time') ? 'y2' : 'y' }) : []),
    ];
    panel('Throughput', ds, {
      id: 'throughput',
      yTitle: has('step_time') ? 'seconds / step' : 'tokens / s',
      ...(has('step_time') && has('tokens_per_sec') ? { y2Title: 'tokens / s' } : {}),
    });
  }

  // Where a step's time goes: timing/<phase>, in seconds.
  {
    const phases = names.filter((n) => n.startsWith('timing/') && has(n));
    const ds = phases.flatMap((m, i) => line(m, PALETTE[i % PALETTE.length]!));
    panel('Time per phase', ds, { id: 'timing', yTitle: 'seconds / step' });
  }

  // Everything else, one chart per metric; constant metrics are listed, not drawn.
  for (const name of names) {
    if (covered.has(name) || constant.has(name)) continue;
    const unit = unitOf(name);
    const ds = line(name, PALETTE[0]!);
    const metrics = pending;
    pending = [];
    lines = [];
    panels.push({
      id: uniqueId(`other-${name}`),
      title: name,
      group: 'other',
      metrics,
      ...(unit ? { yTitle: unit } : {}),
      datasets: overlay ? relabel(ds) : ds,
    });
  }
  const constants = names.filter((n) => constant.has(n) && !covered.has(n)).map((metric) => ({ metric, values: constant.get(metric)! }));
  return { panels, constants };

  function relabel(ds: DatasetSpec[]): DatasetSpec[] {
    return ds.map((d) => ({ ...d, label: runs[d.run]!.name }));
  }
}

/**
 * The charts of one run (see `planReport`, which also lists the constant metrics these charts
 * leave out).
 */
export function planPanels(rows: readonly MetricsRow[]): PanelSpec[] {
  return planReport([{ name: '', metrics: rows }]).panels;
}
