/**
 * `npm run bench:reproduce`: DeepSeekMath's comparisons at laptop scale. From the same SFT policy
 * and with the same budget of sampled completions (steps × prompts × group size), it trains with
 * online rejection-sampling fine-tuning (RFT), GRPO with outcome supervision, GRPO with process
 * supervision (rule-checked step rewards) and PPO, and measures held-out greedy accuracy, maj@8
 * and pass@8, peak tensor memory and time per step. Runs go in parallel child processes (one
 * wasm thread each, or the native backend's cores shared out); results are appended to
 * `runs/reproduce/results.jsonl` and summarised, with 95% confidence intervals over the seeds, in
 * `docs/results.md`.
 *
 *   npm run bench:reproduce -- --steps 60 --seeds 0,1 --parallel 2
 *   npm run bench:reproduce -- --steps 100 --seeds 0,1,2,3,4 --methods rft,grpo,grpo-process --test-size 1000 --backend native --eval-every 50
 */
import { spawn } from 'node:child_process';
import { appendFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import {
  prepareContainer,
  resolveConfig,
  Trainer,
  TrainerHook,
  type AccuracyReport,
  type GrpoConfigInput,
  type GrpoPlugin,
  type StepSummary,
} from '@grpo/core';
import { defaultPlugins } from '@grpo/cli';
import backendNative from '@grpo/plugin-backend-native';
import mathTask from '@grpo/plugin-math-task';
import ppo from '@grpo/plugin-ppo';
import rewardModel from '@grpo/plugin-reward-model';
import { confidenceInterval, pairedDifferences } from './reproduce-stats.js';
import { writePlots } from './reproduce-plots.js';
import { RM_ITERATION_TRAIN } from './rm-recipe.js';

const METHODS = ['rft', 'grpo', 'grpo-process', 'grpo-rm', 'grpo-rm-iterative', 'ppo'] as const;
type Method = (typeof METHODS)[number];
const ROOT = path.resolve(import.meta.dirname, '..');
const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '60' },
    seeds: { type: 'string', default: '0,1' },
    methods: { type: 'string', default: METHODS.join(',') },
    parallel: { type: 'string', default: '2' },
    // wasm: one thread per run, the same figures on every machine (those of docs/results.md's first tables).
    // native: the CLI's default backend, its cores shared out between the parallel runs (see --threads).
    backend: { type: 'string', default: 'wasm' },
    // Native kernel threads per run (default: the machine's cores / --parallel).
    threads: { type: 'string' },
    // Held-out problems (the main job evaluates on 300; 1,000 halves the standard error's square).
    'test-size': { type: 'string', default: '300' },
    // Held-out evaluations during each run (accuracy curves); also the iterative RM's iteration length.
    'eval-every': { type: 'string', default: '10' },
    // The learned outcome reward model of the grpo-rm arms (made by `npm run rm:example` when missing).
    rm: { type: 'string', default: 'runs/rm-example/orm' },
    // Where the SVG charts go (docs/results/ is what docs/results.md shows).
    plots: { type: 'string', default: 'runs/reproduce/plots' },
    out: { type: 'string', default: 'runs/reproduce' },
    // Internal: run one method in this process.
    run: { type: 'string' },
    seed: { type: 'string' },
  },
});

const BACKENDS = ['wasm', 'native'] as const;
type Backend = (typeof BACKENDS)[number];

interface RunResult {
  method: Method;
  seed: number;
  steps: number;
  /** Held-out problems evaluated (absent in records older than this option: 300). */
  testSize?: number;
  /** Tensor backend of the run (absent in older records: wasm). */
  backend?: Backend;
  samplesPerStep: number;
  before: AccuracyReport;
  after: AccuracyReport;
  /** Held-out accuracy every `--eval-every` steps (step 0 = before). */
  curve: { step: number; greedy: number; majAtK: number; passAtK: number }[];
  /** Per step: the training reward and the rule-checked accuracy of the samples. */
  rewards: number[];
  sampleAccuracy: number[];
  /** Iterative RM: each round's metrics (`rm/fresh_accuracy` is its accuracy on the new samples before training on them). */
  rmRounds?: { step: number; metrics: Record<string, number> }[];
  stepSec: number;
  peakBytes: number;
}

/** The main job's config (grpo.config.ts), changed only where a method needs it. */
function methodConfig(
  method: Method,
  seed: number,
  steps: number,
  outputDir: string,
  rm: string,
  iteration: number,
  testSize: number,
  backend: Backend,
): { raw: GrpoConfigInput; plugins: GrpoPlugin[] } {
  const task = { seed: 0, trainSize: 20_000, testSize };
  const raw: GrpoConfigInput = {
    backend,
    seed,
    outputDir,
    policy: { checkpoint: path.join(ROOT, 'plugins/math-task/checkpoints/sft') },
    generation: { maxNewTokens: 40, temperature: 1 },
    train: { steps, promptsPerStep: 16, groupSize: 8, learningRate: 1e-4, logSamplesEvery: 0 },
    algorithm: { kl: { beta: 0.04 } },
    eval: { k: 8, accuracyReward: 'task_accuracy' },
  };
  // The learned RM is the only training reward; task_accuracy (weight 0) is logged, and used for evaluation.
  const learned = { ...raw, rewards: { weights: { task_accuracy: 0, rm: 1 } } };
  switch (method) {
    case 'rft':
      // DeepSeekMath §5.2.1: gradient coefficient 1 for correct samples, 0 otherwise, no KL.
      return { raw: { ...raw, algorithm: { advantage: { estimator: 'rft' }, kl: { beta: 0 } } }, plugins: [mathTask(task)] };
    case 'grpo':
      return { raw, plugins: [mathTask(task)] };
    case 'grpo-process':
      // Step rewards from the rule checker; the outcome reward is the final step.
      return {
        raw: { ...raw, algorithm: { ...raw.algorithm, advantage: { estimator: 'grpo-process' } } },
        plugins: [mathTask({ ...task, processRewards: true })],
      };
    case 'grpo-rm':
      return { raw: learned, plugins: [mathTask(task), rewardModel({ checkpoint: rm })] };
    case 'grpo-rm-iterative':
      // DeepSeekMath §4.2: after each iteration the RM trains on the new samples (labelled by the
      // rule checker) plus 10% replay, and π_ref is reset to π_θ.
      return {
        raw: { ...learned, algorithm: { kl: { beta: 0.04, refResetEvery: iteration } } },
        plugins: [
          mathTask(task),
          rewardModel({ checkpoint: rm, iterative: { everySteps: iteration, labeller: 'task_accuracy', replayFraction: 0.1, train: RM_ITERATION_TRAIN } }),
        ],
      };
    case 'ppo':
      return { raw, plugins: [mathTask(task), ppo()] };
  }
}

interface RunSettings {
  steps: number;
  out: string;
  evalEvery: number;
  rm: string;
  testSize: number;
  backend: Backend;
  threads: number;
}

async function runOne(method: Method, seed: number, settings: RunSettings): Promise<RunResult> {
  const { steps, out, evalEvery, rm, testSize, backend, threads } = settings;
  const { raw, plugins } = methodConfig(method, seed, steps, path.join(out, `${method}-seed${seed}`), rm, evalEvery, testSize, backend);
  // The native backend with this run's share of the cores (the CLI's default plugin takes them all).
  const defaults = [
    ...defaultPlugins().filter((p) => !(p && 'meta' in p && p.meta.name === '@grpo/plugin-backend-native')),
    backendNative({ threads, fallback: false }),
  ];
  const config = await resolveConfig({ ...raw, plugins }, { source: `bench:reproduce ${method}`, baseDir: ROOT, defaults });
  const container = await prepareContainer(config);
  const trainer = await Trainer.fromContainer(container);
  // The iterative reward model is a hook that trains after every `evalEvery` steps (trainStep does not call onStepEnd).
  const hooks = await container.getAllAsync<TrainerHook>(TrainerHook, { optional: true });
  const evaluateAccuracy = async () => (await trainer.evaluate({ requireAccuracy: true })).accuracy!;
  const point = (step: number, r: AccuracyReport) => ({ step, greedy: r.greedy, majAtK: r.majAtK, passAtK: r.passAtK });
  const before = await evaluateAccuracy();
  const curve = [point(0, before)];
  const rewards: number[] = [];
  const sampleAccuracy: number[] = [];
  const times: number[] = [];
  let peakBytes = 0;
  let after = before;
  for (let s = 0; s < steps; s++) {
    let summary: StepSummary | undefined;
    if (s === 0) {
      // The first step runs under tf.profile for the peak of tracked tensor bytes.
      const info = await tf.profile(async () => {
        summary = await trainer.trainStep();
        return tf.scalar(0);
      });
      peakBytes = info.peakBytes;
    } else {
      summary = await trainer.trainStep();
      times.push(summary.metrics.step_time ?? 0);
    }
    const m = summary!.metrics;
    rewards.push(m.reward ?? 0);
    sampleAccuracy.push(m['rewards/task_accuracy/mean'] ?? 0);
    for (const h of hooks) await h.onStepEnd?.(summary!);
    process.stderr.write(
      `${method} seed ${seed}: step ${s + 1}/${steps} reward ${(m.reward ?? 0).toFixed(3)} accuracy ${(m['rewards/task_accuracy/mean'] ?? 0).toFixed(3)}\n`,
    );
    if ((s + 1) % evalEvery === 0 || s + 1 === steps) {
      after = await evaluateAccuracy();
      curve.push(point(s + 1, after));
      process.stderr.write(`${method} seed ${seed}: step ${s + 1} greedy ${pct(after.greedy)} maj@8 ${pct(after.majAtK)} pass@8 ${pct(after.passAtK)}\n`);
    }
  }
  trainer.dispose();
  const rounds = hooks.flatMap((h) => ('rounds' in h && Array.isArray(h.rounds) ? (h.rounds as RunResult['rmRounds'] & object) : []));
  return {
    method,
    seed,
    steps,
    testSize,
    backend,
    samplesPerStep: 16 * 8,
    before,
    after,
    curve,
    rewards,
    sampleAccuracy,
    ...(rounds.length ? { rmRounds: rounds } : {}),
    stepSec: times.reduce((a, b) => a + b, 0) / Math.max(1, times.length),
    peakBytes,
  };
}

/** Runs `jobs` as child processes of this script, at most `parallel` at a time. */
async function runAll(jobs: { method: Method; seed: number }[], parallel: number, forward: string[]): Promise<void> {
  const queue = [...jobs];
  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const { method, seed } = job;
      await new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, '--run', method, '--seed', String(seed), ...forward], {
          stdio: ['ignore', 'inherit', 'inherit'],
        });
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${method} seed ${seed} exited with ${code}`))));
      });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** `51.2% [48.0, 54.4]`: the mean over seeds with its 95% interval (points), or one run's figure. */
function withInterval(xs: number[]): string {
  const ci = confidenceInterval(xs.map((x) => x * 100));
  return xs.length > 1 ? `${ci.mean.toFixed(1)}% [${ci.low.toFixed(1)}, ${ci.high.toFixed(1)}]` : `${ci.mean.toFixed(1)}%`;
}

/** The comparisons DeepSeekMath makes, as paired differences over the seeds both arms ran. */
const COMPARISONS: [Method, Method, string][] = [
  ['grpo', 'rft', 'GRPO − online RFT'],
  ['grpo-process', 'grpo', 'process − outcome supervision'],
  ['grpo-rm-iterative', 'grpo-rm', 'iterative − fixed learned ORM'],
  ['ppo', 'grpo', 'PPO − GRPO'],
];

/** Means with 95% intervals over the seeds, and the paired differences between arms (in points). */
function intervals(results: RunResult[]): string {
  const methods = METHODS.filter((m) => results.some((r) => r.method === m));
  const figures: [string, (r: RunResult) => number][] = [
    ['greedy', (r) => r.after.greedy],
    ['maj@8', (r) => r.after.majAtK],
    ['pass@8', (r) => r.after.passAtK],
  ];
  const means = methods.map((m) => {
    const rs = results.filter((r) => r.method === m);
    return `| ${m} | ${rs.length} | ${figures.map(([, f]) => withInterval(rs.map(f))).join(' | ')} |`;
  });
  const bySeed = (m: Method, f: (r: RunResult) => number) => new Map(results.filter((r) => r.method === m).map((r) => [r.seed, f(r) * 100]));
  const diffs = COMPARISONS.filter(([a, b]) => methods.includes(a) && methods.includes(b)).map(([a, b, label]) => {
    const cells = figures.map(([, f]) => {
      const d = pairedDifferences(bySeed(a, f), bySeed(b, f));
      const sign = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;
      return d.n > 1 ? `${sign(d.mean)} [${sign(d.low)}, ${sign(d.high)}] (${d.differences.map(sign).join(', ')})` : sign(d.mean);
    });
    return `| ${label} | ${cells.join(' | ')} |`;
  });
  return [
    '| method | seeds | greedy, mean [95% CI] | maj@8 | pass@8 |',
    '|---|---|---|---|---|',
    ...means,
    '',
    '| paired difference (points, same seeds) | greedy, mean [95% CI] (per seed) | maj@8 | pass@8 |',
    '|---|---|---|---|',
    ...diffs,
  ].join('\n');
}

function summarise(results: RunResult[]): string {
  const methods = METHODS.filter((m) => results.some((r) => r.method === m));
  const rows = methods.map((m) => {
    const rs = results.filter((r) => r.method === m);
    const fmt = (f: (r: RunResult) => number) => (rs.length > 1 ? `${pct(mean(rs.map(f)))} (${rs.map((r) => pct(f(r))).join(', ')})` : pct(f(rs[0]!)));
    return `| ${m} | ${rs.map((r) => r.seed).join(', ')} | ${fmt((r) => r.before.greedy)} → ${fmt((r) => r.after.greedy)} | ${fmt((r) => r.before.majAtK)} → ${fmt((r) => r.after.majAtK)} | ${fmt((r) => r.before.passAtK)} → ${fmt((r) => r.after.passAtK)} | ${(mean(rs.map((r) => r.peakBytes)) / 2 ** 20).toFixed(0)} | ${mean(rs.map((r) => r.stepSec)).toFixed(2)} |`;
  });
  const curves = results.map((r) => `| ${r.method} | ${r.seed} | ${r.curve.map((c) => `${c.step}: ${pct(c.greedy)}`).join(', ')} |`);
  return [
    '| method | seeds | greedy accuracy | maj@8 | pass@8 | peak tensor MiB | s / step |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    '| method | seed | held-out greedy accuracy by step |',
    '|---|---|---|',
    ...curves,
    '',
    intervals(results),
  ].join('\n');
}

const steps = Number(args.steps);
const evalEvery = Number(args['eval-every']);
const out = path.resolve(ROOT, args.out!);
const rmDir = path.resolve(ROOT, args.rm!);
const testSize = Number(args['test-size']);
const backend = args.backend as Backend;
if (!BACKENDS.includes(backend)) throw new Error(`unknown backend '${backend}' (have ${BACKENDS.join(', ')})`);
const parallel = Number(args.parallel);
const threads = Number(args.threads ?? Math.max(1, Math.floor(availableParallelism() / parallel)));
const resultsFile = path.join(out, 'results.jsonl');
if (args.run) {
  const result = await runOne(args.run as Method, Number(args.seed ?? 0), { steps, out, evalEvery, rm: rmDir, testSize, backend, threads });
  await appendFile(resultsFile, `${JSON.stringify(result)}\n`);
} else {
  const methods = args.methods!.split(',') as Method[];
  for (const m of methods) if (!METHODS.includes(m)) throw new Error(`unknown method '${m}' (have ${METHODS.join(', ')})`);
  const seeds = args.seeds!.split(',').map(Number);
  await mkdir(out, { recursive: true });
  // Runs already in results.jsonl with the same steps and evaluation interval are kept, so seeds can be added later.
  const done = await readResults(resultsFile, steps, evalEvery, testSize, backend);
  await writeFile(resultsFile, done.map((r) => `${JSON.stringify(r)}\n`).join(''));
  const jobs = seeds
    .flatMap((seed) => methods.map((method) => ({ method, seed })))
    .filter((j) => !done.some((r) => r.method === j.method && r.seed === j.seed));
  if (jobs.some((j) => j.method.startsWith('grpo-rm')) && !(await exists(path.join(rmDir, 'reward-model.json')))) {
    console.error(`no reward model at ${rmDir}: training it (npm run rm:example)`);
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [...process.execArgv, path.join(ROOT, 'scripts/rm-example.ts'), '--out', rmDir], {
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`rm:example exited with ${code}`))));
    });
  }
  const forward = ['--steps', String(steps), '--eval-every', String(evalEvery), '--out', out, '--rm', rmDir];
  forward.push('--test-size', String(testSize), '--backend', backend, '--threads', String(threads));
  await runAll(jobs, parallel, forward);
  const results = (await readResults(resultsFile, steps, evalEvery, testSize, backend)).filter((r) => methods.includes(r.method) && seeds.includes(r.seed));
  console.log(summarise(results));
  const plots = path.resolve(ROOT, args.plots!);
  await writePlots(results, plots);
  console.log(`plots → ${path.relative(ROOT, plots)}/`);
}

async function readResults(file: string, steps: number, evalEvery: number, testSize: number, backend: Backend): Promise<RunResult[]> {
  if (!(await exists(file))) return [];
  const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim());
  return lines
    .map((l) => JSON.parse(l) as RunResult)
    .filter((r) => r.steps === steps && Array.isArray(r.curve) && (r.curve[1]?.step ?? steps) === Math.min(evalEvery, steps))
    .filter((r) => (r.testSize ?? 300) === testSize && (r.backend ?? 'wasm') === backend);
}
