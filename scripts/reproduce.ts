/**
 * `npm run bench:reproduce`: DeepSeekMath's comparisons at laptop scale. From the same SFT policy
 * and with the same budget of sampled completions (steps × prompts × group size), it trains with
 * online rejection-sampling fine-tuning (RFT), GRPO with outcome supervision, GRPO with process
 * supervision (rule-checked step rewards) and PPO, and measures held-out greedy accuracy, maj@8
 * and pass@8, peak tensor memory and time per step. Runs go in parallel child processes (one
 * wasm thread each); results are appended to `runs/reproduce/results.jsonl` and summarised in
 * `docs/results.md`.
 *
 *   npm run bench:reproduce -- --steps 60 --seeds 0,1 --parallel 2
 */
import { spawn } from 'node:child_process';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { GrpoTrainer, resolveConfig, type AccuracyReport, type GrpoConfigInput, type GrpoPlugin } from '@grpo/core';
import { prepareContainer } from '@grpo/cli';
import mathTask from '@grpo/plugin-math-task';
import ppo from '@grpo/plugin-ppo';

const METHODS = ['rft', 'grpo', 'grpo-process', 'ppo'] as const;
type Method = (typeof METHODS)[number];
const ROOT = path.resolve(import.meta.dirname, '..');

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '60' },
    seeds: { type: 'string', default: '0,1' },
    methods: { type: 'string', default: METHODS.join(',') },
    parallel: { type: 'string', default: '2' },
    out: { type: 'string', default: 'runs/reproduce' },
    // Internal: run one method in this process.
    run: { type: 'string' },
    seed: { type: 'string' },
  },
});

interface RunResult {
  method: Method;
  seed: number;
  steps: number;
  samplesPerStep: number;
  before: AccuracyReport;
  after: AccuracyReport;
  stepSec: number;
  peakBytes: number;
  rewardByTenth: number[];
}

/** The main job's config (grpo.config.ts), changed only where a method needs it. */
function methodConfig(method: Method, seed: number, steps: number, outputDir: string): { raw: GrpoConfigInput; plugins: GrpoPlugin[] } {
  const task = { seed: 0, trainSize: 20_000, testSize: 300 };
  const raw: GrpoConfigInput = {
    seed,
    outputDir,
    policy: { checkpoint: path.join(ROOT, 'plugins/math-task/checkpoints/sft') },
    generation: { maxNewTokens: 40, temperature: 1 },
    train: { steps, promptsPerStep: 16, groupSize: 8, learningRate: 1e-4, logSamplesEvery: 0 },
    algorithm: { kl: { beta: 0.04 } },
    eval: { k: 8 },
  };
  switch (method) {
    case 'rft':
      // DeepSeekMath §5.2.1: gradient coefficient 1 for correct samples, 0 otherwise, no KL.
      return { raw: { ...raw, algorithm: { advantage: { estimator: 'rft' }, kl: { beta: 0 } } }, plugins: [mathTask(task)] };
    case 'grpo':
      return { raw, plugins: [mathTask(task)] };
    case 'grpo-process':
      // Step rewards from the rule checker; the outcome reward is the final step.
      return { raw: { ...raw, algorithm: { ...raw.algorithm, advantage: { estimator: 'grpo-process' } } }, plugins: [mathTask({ ...task, processRewards: true })] };
    case 'ppo':
      return { raw, plugins: [mathTask(task), ppo()] };
  }
}

async function runOne(method: Method, seed: number, steps: number, out: string): Promise<RunResult> {
  const { raw, plugins } = methodConfig(method, seed, steps, path.join(out, `${method}-seed${seed}`));
  const config = await resolveConfig({ ...raw, plugins }, `bench:reproduce ${method}`, ROOT);
  const container = await prepareContainer(config, { needTrainData: true });
  const trainer = GrpoTrainer.fromContainer(container);
  const before = await trainer.evaluateAccuracy();
  const rewards: number[] = [];
  const times: number[] = [];
  // The first step runs under tf.profile for the peak of tracked tensor bytes.
  let peakBytes = 0;
  for (let s = 0; s < steps; s++) {
    if (s === 0) {
      const info = await tf.profile(async () => {
        const { metrics } = await trainer.trainStep();
        rewards.push(metrics.reward ?? 0);
        return tf.scalar(0);
      });
      peakBytes = info.peakBytes;
      continue;
    }
    const { metrics } = await trainer.trainStep();
    rewards.push(metrics.reward ?? 0);
    times.push(metrics.step_time ?? 0);
    process.stderr.write(`${method} seed ${seed}: step ${s + 1}/${steps} reward ${(metrics.reward ?? 0).toFixed(3)}\n`);
  }
  const after = await trainer.evaluateAccuracy();
  const tenth = Math.max(1, Math.floor(steps / 10));
  const rewardByTenth = Array.from({ length: Math.ceil(steps / tenth) }, (_, i) => {
    const part = rewards.slice(i * tenth, (i + 1) * tenth);
    return part.reduce((a, b) => a + b, 0) / part.length;
  });
  trainer.dispose();
  return { method, seed, steps, samplesPerStep: 16 * 8, before, after, stepSec: times.reduce((a, b) => a + b, 0) / Math.max(1, times.length), peakBytes, rewardByTenth };
}

/** Runs `jobs` as child processes of this script, at most `parallel` at a time. */
async function runAll(jobs: { method: Method; seed: number }[], parallel: number, steps: number, out: string): Promise<void> {
  const queue = [...jobs];
  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const { method, seed } = job;
      await new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, '--run', method, '--seed', String(seed), '--steps', String(steps), '--out', out], { stdio: ['ignore', 'inherit', 'inherit'] });
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${method} seed ${seed} exited with ${code}`))));
      });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function summarise(results: RunResult[], steps: number): string {
  const methods = METHODS.filter((m) => results.some((r) => r.method === m));
  const rows = methods.map((m) => {
    const rs = results.filter((r) => r.method === m);
    const fmt = (f: (r: RunResult) => number) => (rs.length > 1 ? `${pct(mean(rs.map(f)))} (${rs.map((r) => pct(f(r))).join(', ')})` : pct(f(rs[0]!)));
    return `| ${m} | ${rs.map((r) => r.seed).join(', ')} | ${fmt((r) => r.before.greedy)} → ${fmt((r) => r.after.greedy)} | ${fmt((r) => r.before.majAtK)} → ${fmt((r) => r.after.majAtK)} | ${fmt((r) => r.before.passAtK)} → ${fmt((r) => r.after.passAtK)} | ${(mean(rs.map((r) => r.peakBytes)) / 2 ** 20).toFixed(0)} | ${mean(rs.map((r) => r.stepSec)).toFixed(2)} |`;
  });
  const curves = results.map((r) => `| ${r.method} | ${r.seed} | ${r.rewardByTenth.map((x) => x.toFixed(3)).join(' ')} |`);
  return [
    '| method | seeds | greedy accuracy | maj@8 | pass@8 | peak tensor MiB | s / step |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `Mean sampled reward by tenth of the ${steps}-step run:`,
    '',
    '| method | seed | reward by tenth |',
    '|---|---|---|',
    ...curves,
  ].join('\n');
}

const steps = Number(args.steps);
const out = path.resolve(ROOT, args.out!);
if (args.run) {
  const { setupBackend } = await import('@grpo/plugin-backend-wasm');
  await setupBackend('wasm');
  const result = await runOne(args.run as Method, Number(args.seed ?? 0), steps, out);
  await appendFile(path.join(out, 'results.jsonl'), `${JSON.stringify(result)}\n`);
} else {
  const methods = args.methods!.split(',') as Method[];
  for (const m of methods) if (!METHODS.includes(m)) throw new Error(`unknown method '${m}' (have ${METHODS.join(', ')})`);
  const seeds = args.seeds!.split(',').map(Number);
  await mkdir(out, { recursive: true });
  await writeFile(path.join(out, 'results.jsonl'), '');
  await runAll(
    seeds.flatMap((seed) => methods.map((method) => ({ method, seed }))),
    Number(args.parallel),
    steps,
    out,
  );
  const results = (await readFile(path.join(out, 'results.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as RunResult);
  const table = summarise(results, steps);
  console.log(table);
  console.log(JSON.stringify({ steps, seeds, methods, results: results.map(({ method, seed, after, before, stepSec, peakBytes }) => ({ method, seed, before: before.greedy, after: after.greedy, majAtK: after.majAtK, passAtK: after.passAtK, stepSec, peakBytes })) }));
}
