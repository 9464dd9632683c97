/**
 * `npm run bench:workers`: scoring throughput on reward workers (separate processes, one real
 * Redis on loopback) with an I/O-bound reward that waits 100 ms per sample, over 1, 2, 4, 8 and
 * 16 workers. Each round scores the same 64 groups of 4 samples through the trainer's
 * `RedisRewardScorer`. Then the main job's step time with its rollouts on rollout workers,
 * synchronous against asynchronous (`pipeline.ts`; `--pipeline-steps n`, default 4; 0 skips it).
 * Last line: `{"throughput": {"1": samples/s, …}, "speedup": {…}, …, "stepTime": {"sync": s, "async": s, …}, "asyncSpeedup": …}`.
 * `--plot <file.svg>` also draws measured against ideal throughput (docs/scale-out-throughput.svg).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { fileURLToPath } from 'node:url';
import type { Rollout } from '@grpo/core';
import { RedisRewardScorer, workersSchema } from '../src/index.js';
import { startRedis } from '../test/redis-server.js';
import { ioBoundReward, MS_PER_SAMPLE } from './io-reward.js';
import { pipelineStepTimes } from './pipeline.js';

const flag = (name: string) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1] : undefined;
};
/** Reward workers per round (`--rounds 1,2`: fewer, for a quick look). */
const ROUNDS = (flag('--rounds') ?? '1,2,4,8,16').split(',').map(Number);
const GROUPS = 64;
const GROUP_SIZE = 4;
const here = path.dirname(fileURLToPath(import.meta.url));

const rollouts: Rollout[] = Array.from({ length: GROUPS }, (_, i) => ({
  row: { prompt: `question ${i}` },
  prompt: `question ${i}`,
  promptIds: [i],
  completions: Array.from({ length: GROUP_SIZE }, (_, g) => ({ text: 'x'.repeat(i + g), tokenIds: [g], logprobs: [0], finishReason: 'eos' as const })),
}));

const plotFile = flag('--plot');
const pipelineSteps = Number(flag('--pipeline-steps') ?? 4);

/** Samples/s against workers, measured and ideal (workers × 1000 / ms per sample), on log–log axes. */
async function plot(throughput: Record<string, number>, file: string): Promise<void> {
  const values = ROUNDS.flatMap((n) => [
    { workers: n, series: 'measured', samples: throughput[n]! },
    { workers: n, series: 'ideal (linear)', samples: (n * 1000) / MS_PER_SAMPLE },
  ]);
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Scoring throughput on reward workers (${MS_PER_SAMPLE} ms per sample)`,
    width: 360,
    height: 240,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'workers', type: 'quantitative', scale: { type: 'log', base: 2 }, axis: { values: ROUNDS }, title: 'reward workers' },
      y: { field: 'samples', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'samples/s' },
      color: { field: 'series', type: 'nominal', title: null },
      strokeDash: { field: 'series', type: 'nominal', legend: null },
    },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, await view.toSVG());
  } finally {
    view.finalize();
  }
  console.log(`plot: ${file}`);
}

const redis = await startRedis();
const workers: ChildProcess[] = [];
try {
  const max = Math.max(...ROUNDS);
  await Promise.all(
    Array.from({ length: max }, (_, i) => {
      const child = spawn(
        process.execPath,
        ['--conditions=source', '--import', 'tsx', path.join(here, 'bench-worker.ts'), redis.url, String(i), ROUNDS.join(',')],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      workers.push(child);
      return new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        child.once('exit', (code) => reject(new Error(`bench worker ${i} exited with ${code}`)));
      });
    }),
  );
  console.log(`${max} worker processes ready on ${redis.url}; ${GROUPS} groups × ${GROUP_SIZE} samples per round, ${MS_PER_SAMPLE} ms per sample`);
  const throughput: Record<string, number> = {};
  const seconds: Record<string, number> = {};
  for (const n of ROUNDS) {
    const scorer = new RedisRewardScorer({ url: redis.url, workers: workersSchema.parse({ queue: `bench-${n}` }), run: `bench-${n}`, log: () => {} });
    const started = performance.now();
    const [result] = await scorer.score({
      rollouts,
      functions: [ioBoundReward],
      options: { timeoutMs: 60_000, onError: 'raise', penalty: 0 },
      step: 0,
      round: 0,
    });
    const took = (performance.now() - started) / 1000;
    await scorer.close();
    if (result!.scores.length !== GROUPS * GROUP_SIZE) throw new Error(`round ${n}: ${result!.scores.length} scores`);
    seconds[n] = Number(took.toFixed(3));
    throughput[n] = Number(((GROUPS * GROUP_SIZE) / took).toFixed(2));
    console.log(`${String(n).padStart(2)} workers: ${took.toFixed(2)} s, ${throughput[n]} samples/s (ideal ${((n * 1000) / MS_PER_SAMPLE).toFixed(0)})`);
  }
  const speedup = Object.fromEntries(ROUNDS.map((n) => [n, Number((throughput[n]! / throughput[1]!).toFixed(2))]));
  const efficiency = Object.fromEntries(ROUNDS.map((n) => [n, Number((speedup[n]! / n).toFixed(3))]));
  if (plotFile) await plot(throughput, plotFile);
  for (const w of workers) w.kill('SIGKILL');
  let pipeline = {};
  if (pipelineSteps > 0) {
    console.log(`main job, ${pipelineSteps} steps, rollouts on rollout workers: synchronous against asynchronous`);
    const { stepTime, stepTimes, rolloutWait } = await pipelineStepTimes(redis.url, pipelineSteps, (line) => console.log(line));
    pipeline = { stepTime, stepTimes, rolloutWait, asyncSpeedup: Number((stepTime.sync! / stepTime.async!).toFixed(2)), pipelineSteps };
  }
  console.log(
    JSON.stringify({
      throughput,
      speedup,
      efficiency,
      seconds,
      samplesPerRound: GROUPS * GROUP_SIZE,
      groupSize: GROUP_SIZE,
      msPerSample: MS_PER_SAMPLE,
      ...pipeline,
    }),
  );
} finally {
  for (const w of workers) w.kill('SIGKILL');
  await redis.stop();
}
