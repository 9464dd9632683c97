/**
 * SVG charts of `npm run bench:reproduce` results (Vega-Lite specs rendered headlessly by Vega):
 * held-out accuracy over the run, the rule-checked accuracy of the training samples, and the cost
 * of each method. `docs/results.md` shows the copies in `docs/results/`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** The fields of a bench:reproduce result that the charts read. */
export interface PlottedRun {
  method: string;
  seed: number;
  samplesPerStep: number;
  curve: { step: number; greedy: number; majAtK: number; passAtK: number }[];
  sampleAccuracy: number[];
  peakBytes: number;
  stepSec: number;
}

const LABELS: Record<string, string> = {
  rft: 'online RFT',
  grpo: 'GRPO (outcome)',
  'grpo-process': 'GRPO (process)',
  'grpo-rm': 'GRPO (learned RM)',
  'grpo-rm-iterative': 'GRPO (iterative RM)',
  ppo: 'PPO',
};
const label = (m: string) => LABELS[m] ?? m;
const colour = { field: 'method', type: 'nominal', title: null, sort: Object.values(LABELS) } as const;

async function render(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Held-out greedy accuracy, maj@8 and pass@8 against sampled completions: seeds as points, their mean as a line. */
export function accuracySpec(runs: readonly PlottedRun[]): TopLevelSpec {
  const values = runs.flatMap((r) =>
    r.curve.flatMap((c) =>
      (['greedy', 'majAtK', 'passAtK'] as const).map((k) => ({
        method: label(r.method),
        seed: r.seed,
        samples: c.step * r.samplesPerStep,
        metric: { greedy: 'greedy', majAtK: 'maj@8', passAtK: 'pass@8' }[k],
        value: c[k],
      })),
    ),
  );
  const x = { field: 'samples', type: 'quantitative', title: 'sampled completions' } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Held-out accuracy (300 problems) during training',
    data: { values },
    facet: { column: { field: 'metric', type: 'nominal', title: null, sort: ['greedy', 'maj@8', 'pass@8'] } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 260,
      height: 220,
      layer: [
        {
          mark: { type: 'point', opacity: 0.35, size: 18 },
          encoding: { x, y: { field: 'value', type: 'quantitative', axis: { format: '.0%' }, scale: { zero: false }, title: null }, color: colour },
        },
        { mark: { type: 'line', point: true }, encoding: { x, y: { aggregate: 'mean', field: 'value', type: 'quantitative', title: null }, color: colour } },
      ],
    },
  };
}

/** Rule-checked accuracy of the training samples (the true reward), a 5-step moving mean over seeds. */
export function trainingAccuracySpec(runs: readonly PlottedRun[]): TopLevelSpec {
  const values = runs.flatMap((r) => r.sampleAccuracy.map((a, i) => ({ method: label(r.method), seed: r.seed, step: i + 1, value: a })));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Rule-checked accuracy of the sampled completions (mean of seeds, 5-step moving mean)',
    width: 560,
    height: 260,
    data: { values },
    transform: [
      { aggregate: [{ op: 'mean', field: 'value', as: 'value' }], groupby: ['method', 'step'] },
      { window: [{ op: 'mean', field: 'value', as: 'smoothed' }], frame: [-4, 0], groupby: ['method'], sort: [{ field: 'step' }] },
    ],
    mark: 'line',
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step (128 samples each)' },
      y: { field: 'smoothed', type: 'quantitative', axis: { format: '.0%' }, scale: { zero: false }, title: 'sample accuracy' },
      color: colour,
    },
  };
}

/** Peak tensor memory and seconds per step of each method (mean of seeds). */
export function costSpec(runs: readonly PlottedRun[]): TopLevelSpec {
  const values = runs.flatMap((r) => [
    { method: label(r.method), measure: 'peak tensor memory (MiB)', value: r.peakBytes / 2 ** 20 },
    { method: label(r.method), measure: 'seconds per step', value: r.stepSec },
  ]);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Cost per step (mean of seeds; two runs shared the 2-core machine)',
    data: { values },
    facet: { column: { field: 'measure', type: 'nominal', title: null } },
    resolve: { scale: { x: 'independent' } },
    spec: {
      width: 260,
      height: 160,
      mark: 'bar',
      encoding: {
        y: { field: 'method', type: 'nominal', title: null, sort: Object.values(LABELS) },
        x: { aggregate: 'mean', field: 'value', type: 'quantitative', title: null },
        color: { ...colour, legend: null },
      },
    },
  };
}

/** Writes accuracy.svg, training-accuracy.svg and cost.svg into `dir`. */
export async function writePlots(runs: readonly PlottedRun[], dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: [string, TopLevelSpec][] = [
    ['accuracy.svg', accuracySpec(runs)],
    ['training-accuracy.svg', trainingAccuracySpec(runs)],
    ['cost.svg', costSpec(runs)],
  ];
  const written: string[] = [];
  for (const [name, spec] of files) {
    const file = path.join(dir, name);
    await writeFile(file, await render(spec));
    written.push(file);
  }
  return written;
}
