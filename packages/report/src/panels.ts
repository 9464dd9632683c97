import type { MetricsRow } from './data.js';

/** One line of a chart: `y[i]` at step `x[i]`; `null` draws a gap. */
export interface DatasetSpec {
  label: string;
  x: number[];
  y: (number | null)[];
  color: string;
  /** `y2` is the right-hand axis. */
  axis: 'y' | 'y2';
  /** Shade the area down to the previous dataset (the upper edge of a band); drawn without a line. */
  fill?: boolean;
  /** Left out of the legend (the lower edge of a band). */
  legend?: boolean;
  dashed?: boolean;
  /** Draw a marker at every point (sparse series such as eval metrics). */
  points?: boolean;
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

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];

/** Every metric name in the rows, in first-seen order. */
function metricNames(rows: readonly MetricsRow[]): string[] {
  const names = new Set<string>();
  for (const row of rows) for (const name of Object.keys(row)) if (name !== 'step') names.add(name);
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

const slug = (name: string): string =>
  name
    .toLowerCase()
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-|-$/g, '') || 'metric';

/**
 * Decides the charts of a run from its metrics. A panel whose metrics are absent is left out;
 * every metric no panel covers gets a chart of its own in the `other` group, so nothing is dropped.
 */
export function planPanels(rows: readonly MetricsRow[]): PanelSpec[] {
  const names = metricNames(rows);
  const present = new Set(names);
  const has = (name: string) => present.has(name);
  const covered = new Set<string>();
  /** Metrics covered since the last panel was added: the metrics of the panel being built. */
  let pending: string[] = [];
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

  /** Builds a dataset and marks its metric covered. */
  const line = (metric: string, color: string, extra: Partial<DatasetSpec> = {}): DatasetSpec => {
    cover(metric);
    const s = series(rows, metric);
    return { label: metric, x: s.x, y: s.y, color, axis: 'y', points: s.x.length <= 1 || s.x.length < rows.length / 2, ...extra };
  };

  /** Lower and upper edges of a shaded band; both edges are left out of the legend but the upper one. */
  const shade = (lower: string, upper: string, color: string, label: string): DatasetSpec[] => {
    cover(lower);
    cover(upper);
    const lo = series(rows, lower);
    const hi = series(rows, upper);
    return [
      { label: `${lower}`, x: lo.x, y: lo.y, color, axis: 'y', legend: false },
      { label, x: hi.x, y: hi.y, color, axis: 'y', fill: true },
    ];
  };

  const stdBand = (center: string, spread: string, color: string): DatasetSpec[] => {
    cover(spread);
    const b = band(rows, center, spread);
    return [
      { label: `${center} − ${spread}`, x: b.x, y: b.lower, color, axis: 'y', legend: false },
      { label: `± ${spread}`, x: b.x, y: b.upper, color, axis: 'y', fill: true },
    ];
  };

  const panel = (title: string, datasets: DatasetSpec[], extra: Partial<PanelSpec> = {}): void => {
    const metrics = pending;
    pending = [];
    if (datasets.length === 0) return;
    panels.push({ ...extra, id: uniqueId(extra.id ?? title), title, group: 'training', metrics, datasets });
  };

  // Reward, with the mean within-group std as a band.
  if (has('reward')) {
    const ds = [...(has('reward_std') ? stdBand('reward', 'reward_std', PALETTE[0]!) : []), line('reward', PALETTE[0]!)];
    panel('Reward', ds);
  }

  // One panel per reward function: rewards/<fn>/mean (± rewards/<fn>/std).
  for (const name of names) {
    const fn = /^rewards\/(.+)\/mean$/.exec(name)?.[1];
    if (fn === undefined) continue;
    const std = `rewards/${fn}/std`;
    const color = PALETTE[(panels.length + 1) % PALETTE.length]!;
    const ds = [...(has(std) ? stdBand(name, std, color) : []), line(name, color)];
    panel(`Reward: ${fn}`, ds, { id: `reward-${fn}` });
  }

  // Groups that carry no learning signal.
  {
    const ds = ['frac_reward_zero_std', 'rewards/unscored_frac'].filter(has).map((m, i) => line(m, PALETTE[i + 3]!));
    panel('Groups without signal', ds, { yTitle: 'fraction' });
  }

  if (has('kl')) panel('KL divergence to the reference', [line('kl', PALETTE[3]!)], { id: 'kl' });
  if (has('entropy')) panel('Entropy', [line('entropy', PALETTE[4]!)], { id: 'entropy', yTitle: 'nats / token' });

  // Clipping of the importance ratio.
  {
    const keys = ['clip_ratio/low_mean', 'clip_ratio/high_mean', 'clip_ratio/region_mean', 'clip_ratio/dual_mean'];
    const ds = keys.filter(has).map((m, i) => line(m, PALETTE[i]!, m === 'clip_ratio/region_mean' ? { dashed: true, color: PALETTE[7]! } : {}));
    panel('Clip ratio', ds, { yTitle: 'fraction of tokens' });
  }

  // Completion lengths with their min–max range.
  if (has('completions/mean_length')) {
    const range =
      has('completions/min_length') && has('completions/max_length')
        ? shade('completions/min_length', 'completions/max_length', PALETTE[2]!, 'min – max length')
        : [];
    const ds = [...range, line('completions/mean_length', PALETTE[2]!)];
    panel('Completion length', ds, { yTitle: 'tokens' });
  }
  if (has('completions/clipped_ratio'))
    panel('Truncated completions', [line('completions/clipped_ratio', PALETTE[1]!)], { id: 'clipped-ratio', yTitle: 'fraction at the token limit' });

  // Loss (left axis) and gradient norm (right axis).
  if (has('loss') || has('grad_norm')) {
    const ds = [
      ...(has('loss') ? [line('loss', PALETTE[0]!)] : []),
      ...(has('grad_norm') ? [line('grad_norm', PALETTE[1]!, { axis: has('loss') ? 'y2' : 'y' })] : []),
    ];
    panel('Loss and gradient norm', ds, {
      id: 'loss',
      yTitle: has('loss') ? 'loss' : 'grad_norm',
      ...(has('loss') && has('grad_norm') ? { y2Title: 'grad_norm' } : {}),
    });
  }
  if (has('learning_rate')) panel('Learning rate', [line('learning_rate', PALETTE[4]!)], { id: 'learning-rate' });

  // Evaluation metrics: they exist only on the steps that ran an evaluation.
  {
    const evalNames = names.filter((n) => n.startsWith('eval/'));
    const ds = evalNames.map((m, i) => line(m, PALETTE[i % PALETTE.length]!, { points: true }));
    panel('Evaluation', ds, { id: 'eval' });
  }

  // Throughput: seconds per step (left) and generated tokens per second (right).
  if (has('step_time') || has('tokens_per_sec')) {
    const ds = [
      ...(has('step_time') ? [line('step_time', PALETTE[5]!)] : []),
      ...(has('tokens_per_sec') ? [line('tokens_per_sec', PALETTE[7]!, { axis: has('step_time') ? 'y2' : 'y' })] : []),
    ];
    panel('Throughput', ds, {
      id: 'throughput',
      yTitle: has('step_time') ? 'seconds / step' : 'tokens / s',
      ...(has('step_time') && has('tokens_per_sec') ? { y2Title: 'tokens / s' } : {}),
    });
  }

  // Everything else, one chart per metric.
  for (const name of names) {
    if (covered.has(name)) continue;
    panels.push({ id: uniqueId(`other-${name}`), title: name, group: 'other', metrics: [name], datasets: [line(name, PALETTE[0]!)] });
  }
  return panels;
}
