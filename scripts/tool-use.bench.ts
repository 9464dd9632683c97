/**
 * The calculator's worth (`npm run bench:tool-use`): GRPO on the built-in math task with and
 * without the calculator tool, each arm from its own SFT policy, at the same sample budget.
 *
 * - withoutTool: the main job (`grpo.config.ts`: shipped SFT policy `checkpoints/sft`, single-turn
 *   completions of ≤ 40 tokens).
 * - withTool: `mathTask({ tool: true })` from `checkpoints/sft-calc` (`npm run sft:example -- --tool`,
 *   solutions written `<<calc 23+15>>=38`): multi-turn rollouts where the calculator answers each
 *   call; turns of ≤ 24 tokens, ≤ 8 turns, ≤ 72 tokens per trajectory (calculator answers included).
 *
 * Both arms: the same seed, steps, prompts per step and group size (so the same number of sampled
 * completions), β 0.04, lr 1e-4. Greedy accuracy on the first `--eval-size` held-out problems
 * before and after; the withTool arm is evaluated with its tool (that is what it is for).
 *
 * Seeds (`--seeds 0,1,2`) run one after another; each (arm, seed) result is appended to
 * `<out>/results.jsonl` and kept on a later call with the same settings, so an interrupted run
 * resumes where it stopped and two calls with different `--arms` can run side by side (give each
 * `--threads 1` on a 2-core machine).
 *
 * Prints a line per run and, last, one JSON object:
 * `{"withTool": {"before": pct, "after": pct, …}, "withoutTool": {"before": pct, "after": pct, …}, "toolWorth": …, "steps": …, …}`
 * with the means over the seeds, each seed's figures, 95% intervals over seeds and the paired
 * per-seed difference withTool − withoutTool after GRPO (`toolWorth.after`, points).
 */
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { prepareRun, resolveConfig, type GrpoConfigInput } from '@grpo/core';
import { defaultPlugins } from '@grpo/cli';
import backendNative from '@grpo/plugin-backend-native';
import mathTask, { sftCheckpoint } from '@grpo/plugin-math-task';
import { confidenceInterval, pairedDifferences, type Interval } from './reproduce-stats.js';

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '80' },
    prompts: { type: 'string', default: '16' },
    group: { type: 'string', default: '8' },
    seeds: { type: 'string', default: '0' },
    'eval-size': { type: 'string', default: '300' },
    arms: { type: 'string', default: 'withoutTool,withTool' },
    'with-checkpoint': { type: 'string', default: sftCheckpoint({ tool: true }) },
    'without-checkpoint': { type: 'string', default: sftCheckpoint() },
    out: { type: 'string', default: 'runs/tool-use' },
    // `native` (OpenBLAS) is faster on CPU; `wasm` (the default) is the main job's backend.
    backend: { type: 'string', default: 'wasm' },
    // Native kernel threads (default: all cores); 1 when two calls share a 2-core machine.
    threads: { type: 'string' },
  },
});
const num = (k: keyof typeof args) => Number(args[k]);

type Arm = 'withTool' | 'withoutTool';
const ARMS: Arm[] = ['withoutTool', 'withTool'];
const arms = args.arms!.split(',') as Arm[];
for (const a of arms) if (!ARMS.includes(a)) throw new Error(`bench:tool-use: unknown arm '${a}' (have ${ARMS.join(', ')})`);
const seeds = args.seeds!.split(',').map(Number);
if (seeds.some((s) => !Number.isInteger(s) || s < 0)) throw new Error(`bench:tool-use: --seeds must be integers ≥ 0 separated by commas, got '${args.seeds}'`);
const threads = Number(args.threads ?? availableParallelism());
if (!Number.isInteger(threads) || threads < 1) throw new Error(`bench:tool-use: --threads must be an integer ≥ 1, got '${args.threads}'`);

/** What makes two runs comparable: a stored result is reused only when all of these match. */
const settings = {
  steps: num('steps'),
  promptsPerStep: num('prompts'),
  groupSize: num('group'),
  evalSize: num('eval-size'),
  backend: args.backend!,
  withCheckpoint: path.resolve(args['with-checkpoint']!),
  withoutCheckpoint: path.resolve(args['without-checkpoint']!),
};

interface RunResult {
  arm: Arm;
  seed: number;
  settings: typeof settings;
  before: number;
  after: number;
  seconds: number;
  numTurns?: number;
  toolCalls?: number;
  toolErrors?: number;
}

function configOf(arm: Arm, seed: number): GrpoConfigInput {
  const tool = arm === 'withTool';
  return {
    plugins: [mathTask({ seed: 0, trainSize: 20_000, testSize: num('eval-size'), tool })],
    policy: { checkpoint: path.resolve(tool ? args['with-checkpoint']! : args['without-checkpoint']!) },
    outputDir: path.resolve(args.out!, `${arm}-seed${seed}`),
    seed,
    backend: args.backend as GrpoConfigInput['backend'],
    generation: tool ? { maxNewTokens: 24, temperature: 1, environment: { maxTurns: 8, maxTokens: 72 } } : { maxNewTokens: 40, temperature: 1 },
    train: { steps: num('steps'), promptsPerStep: num('prompts'), groupSize: num('group'), learningRate: 1e-4, maxGradNorm: 1, logSamplesEvery: 0 },
    algorithm: { kl: { beta: 0.04 } },
    eval: { k: 0 },
  };
}

const out = path.resolve(args.out!);
const resultsFile = path.join(out, 'results.jsonl');
const pct = (x: number) => Math.round(x * 1000) / 10;

/** Results already on file with these settings (a torn last line from a killed run is skipped). */
async function readResults(): Promise<RunResult[]> {
  const text = await readFile(resultsFile, 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? '' : Promise.reject(e)));
  const results: RunResult[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let r: RunResult;
    try {
      r = JSON.parse(line) as RunResult;
    } catch {
      continue;
    }
    if (JSON.stringify(r.settings) === JSON.stringify(settings)) results.push(r);
  }
  return results;
}

async function runArm(arm: Arm, seed: number): Promise<RunResult> {
  const started = performance.now();
  // The native backend with `--threads` (the CLI's default plugin takes every core).
  const defaults = [
    ...defaultPlugins().filter((p) => !(p && 'meta' in p && p.meta.name === '@grpo/plugin-backend-native')),
    backendNative({ threads, fallback: false }),
  ];
  const config = await resolveConfig(configOf(arm, seed), { source: `bench:tool-use ${arm}`, defaults });
  await mkdir(config.outputDir, { recursive: true });
  const run = await prepareRun(config);
  const { trainer } = run;
  const before = (await trainer.evaluate({ k: 0, requireAccuracy: true })).accuracy!.greedy;
  console.log(`${arm} seed ${seed}: before ${pct(before)}% greedy on ${num('eval-size')} held-out problems`);
  const last: Record<string, number> = {};
  await trainer.train({
    checkpointer: run.checkpointer,
    sinks: [
      run.metrics,
      {
        name: 'progress',
        log: (step, metrics) => {
          Object.assign(last, metrics);
          if ((step + 1) % 10 === 0)
            console.error(
              `${arm} seed ${seed} step ${step + 1}: reward ${metrics.reward?.toFixed(3)}${metrics['num_turns/mean'] !== undefined ? ` turns ${metrics['num_turns/mean'].toFixed(2)} calls ${metrics['tools/calls']?.toFixed(2)}` : ''}`,
            );
        },
      },
    ],
  });
  const after = (await trainer.evaluate({ k: 0, requireAccuracy: true })).accuracy!.greedy;
  const seconds = (performance.now() - started) / 1000;
  trainer.dispose();
  run.release();
  console.log(`${arm} seed ${seed}: before ${pct(before)}% → after ${pct(after)}% greedy (${Math.round(seconds)} s)`);
  return {
    arm,
    seed,
    settings,
    before: pct(before),
    after: pct(after),
    seconds: Math.round(seconds),
    ...(last['num_turns/mean'] !== undefined ? { numTurns: last['num_turns/mean'], toolCalls: last['tools/calls'], toolErrors: last['tools/errors'] } : {}),
  };
}

await mkdir(out, { recursive: true });
const done = await readResults();
for (const seed of seeds)
  for (const arm of arms) {
    if (done.some((r) => r.arm === arm && r.seed === seed)) {
      console.log(`${arm} seed ${seed}: kept from ${path.relative(process.cwd(), resultsFile)}`);
      continue;
    }
    await appendFile(resultsFile, `${JSON.stringify(await runArm(arm, seed))}\n`);
  }

const results = (await readResults()).filter((r) => arms.includes(r.arm) && seeds.includes(r.seed));
const round = (x: number) => Math.round(x * 10) / 10;
const interval = (i: Interval) => (i.n > 1 ? [round(i.low), round(i.high)] : null);
const summary: Record<string, unknown> = {};
for (const arm of arms) {
  const rs = results.filter((r) => r.arm === arm).sort((a, b) => a.seed - b.seed);
  if (rs.length === 0) continue;
  const before = confidenceInterval(rs.map((r) => r.before));
  const after = confidenceInterval(rs.map((r) => r.after));
  summary[arm] = {
    before: round(before.mean),
    after: round(after.mean),
    seeds: rs.map((r) => r.seed),
    beforePerSeed: rs.map((r) => r.before),
    afterPerSeed: rs.map((r) => r.after),
    after95: interval(after),
    seconds: round(rs.reduce((a, r) => a + r.seconds, 0) / rs.length),
    ...(arm === 'withTool' && rs.length ? { numTurns: round(rs.reduce((a, r) => a + (r.numTurns ?? 0), 0) / rs.length) } : {}),
  };
}
if (arms.length === 2 && seeds.some((s) => results.filter((r) => r.seed === s).length === 2)) {
  const bySeed = (arm: Arm, f: (r: RunResult) => number) => new Map(results.filter((r) => r.arm === arm).map((r) => [r.seed, f(r)]));
  const worth = (f: (r: RunResult) => number) => {
    const d = pairedDifferences(bySeed('withTool', f), bySeed('withoutTool', f));
    return { mean: round(d.mean), perSeed: d.differences.map(round), ci95: interval(d) };
  };
  summary.toolWorth = { before: worth((r) => r.before), after: worth((r) => r.after) };
}
console.log(
  JSON.stringify({
    ...summary,
    steps: num('steps'),
    promptsPerStep: num('prompts'),
    groupSize: num('group'),
    evalSize: num('eval-size'),
  }),
);
