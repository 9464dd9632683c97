/**
 * `npm run bench:correction`: does the off-policy correction matter when the rollout engine's
 * numbers are not the trainer's? The main job's config (shipped SFT policy, built-in math task)
 * trained with rollouts from a Q8_0-quantised llama.cpp engine, with `generation.correction` on
 * (token_truncate, cap 3; arm `on`) and off (`off`), against the in-process sampler (`policy`, no
 * mismatch); `f32` (not run by default) is an F32 llama.cpp engine without correction: llama.cpp's
 * kernels and random numbers without the quantisation. `--quant Q4_0` gives the `on`/`off` arms a
 * 4-bit engine instead (a mismatch some 80× Q8_0's). Per arm and seed: held-out greedy accuracy
 * before and after, the mean mismatch figures over the steps, the per-step reward, KL and gradient
 * norm (`trajectory`), and seconds per step. Each run appends a line to `runs/correction/results.jsonl`; the last line
 * printed is one JSON object with every run of this invocation.
 *
 *   npm run bench:correction -- --arms policy,on,off,f32 --seeds 0,1 --steps 10
 *   npm run bench:correction -- --arms on,off --quant Q4_0 --seeds 0,1,2 --steps 20
 */
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { prepareContainer, resolveConfig, Trainer, type GrpoConfigInput } from '@grpo/core';
import { defaultPlugins } from '@grpo/cli';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import llamaCppEngine from '@grpo/plugin-engine-llama-cpp';
import mathTask from '@grpo/plugin-math-task';

const ARMS = ['policy', 'on', 'off', 'f32'] as const;
type Arm = (typeof ARMS)[number];
const ROOT = path.resolve(import.meta.dirname, '..');

const { values: args } = parseArgs({
  options: {
    arms: { type: 'string', default: 'policy,on,off' },
    seeds: { type: 'string', default: '0,1' },
    steps: { type: 'string', default: '10' },
    // Held-out prompts for the greedy accuracy (the main job's test split has 300).
    'eval-size': { type: 'string', default: '300' },
    threads: { type: 'string', default: '1' },
    // The weight type of the `on`/`off` arms' engine: Q8_0 (what the issue names) or Q4_0.
    quant: { type: 'string', default: 'Q8_0' },
    out: { type: 'string', default: 'runs/correction' },
  },
});

const TRAJECTORY = ['reward', 'kl', 'grad_norm'] as const;

const MISMATCH = [
  'mismatch/mismatch_kl',
  'mismatch/mismatch_k3_kl',
  'sampling/sampling_logp_difference/max',
  'sampling/importance_sampling_ratio/mean',
  'sampling/importance_sampling_ratio/max',
] as const;

async function run(arm: Arm, seed: number, steps: number) {
  const raw: GrpoConfigInput = {
    seed,
    outputDir: path.join(ROOT, args.out!, `${arm}-seed${seed}`),
    policy: { checkpoint: path.join(ROOT, 'plugins/math-task/checkpoints/sft') },
    generation: {
      maxNewTokens: 40,
      temperature: 1,
      ...(arm === 'policy' ? {} : { engine: 'llama.cpp', correction: { enabled: arm === 'on' ? 'on' : 'off' } }),
    },
    train: { steps, promptsPerStep: 16, groupSize: 8, learningRate: 1e-4, maxGradNorm: 1, logSamplesEvery: 0, checkpointEvery: 0 },
    algorithm: { kl: { beta: 0.04 } },
    eval: { k: 0 },
  };
  const plugins = [
    mathTask({ seed: 0, trainSize: 20_000, testSize: 300 }),
    ...(arm === 'policy' ? [] : [llamaCppEngine({ threads: Number(args.threads), weightType: arm === 'f32' ? 'F32' : quant })]),
  ];
  const config = await resolveConfig({ ...raw, plugins }, { source: `bench:correction ${arm}`, baseDir: ROOT, defaults: defaultPlugins() });
  const trainer = await Trainer.fromContainer(await prepareContainer(config));
  const limit = Number(args['eval-size']);
  const accuracy = async () => (await trainer.evaluate({ requireAccuracy: true, limit, k: 0 })).accuracy!.greedy;
  const before = await accuracy();
  const sums: Record<string, number> = {};
  // Per step, for stability: the batch's mean reward, the KL to π_ref and the gradient norm.
  const trajectory: Record<(typeof TRAJECTORY)[number], number[]> = { reward: [], kl: [], grad_norm: [] };
  const stepSeconds: number[] = [];
  for (let s = 0; s < steps; s++) {
    const started = performance.now();
    const { metrics } = await trainer.trainStep();
    stepSeconds.push((performance.now() - started) / 1000);
    for (const key of [...MISMATCH, 'reward']) if (metrics[key] !== undefined) sums[key] = (sums[key] ?? 0) + metrics[key]!;
    for (const key of TRAJECTORY) trajectory[key].push(Number((metrics[key] ?? NaN).toPrecision(4)));
    process.stderr.write(
      `${arm} seed ${seed}: step ${s + 1}/${steps} reward ${(metrics.reward ?? 0).toFixed(3)} mismatch_kl ${metrics['mismatch/mismatch_kl']?.toExponential(2) ?? '-'} ${stepSeconds.at(-1)!.toFixed(1)} s\n`,
    );
  }
  const after = await accuracy();
  trainer.dispose();
  const means = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, Number((v / steps).toPrecision(4))]));
  // The first step loads the engine; the mean is over the others.
  const rest = stepSeconds.slice(1);
  const result = {
    arm,
    ...(arm === 'on' || arm === 'off' ? { quant } : {}),
    seed,
    steps,
    before,
    after,
    means,
    secondsPerStep: Number((rest.reduce((a, b) => a + b, 0) / Math.max(1, rest.length)).toFixed(2)),
    trajectory,
  };
  console.log(JSON.stringify(result));
  await mkdir(path.join(ROOT, args.out!), { recursive: true });
  await appendFile(path.join(ROOT, args.out!, 'results.jsonl'), JSON.stringify({ ...result, at: new Date().toISOString() }) + '\n');
  return result;
}

const QUANTS = ['Q8_0', 'Q4_0'] as const;
const quant = args.quant as (typeof QUANTS)[number];
if (!QUANTS.includes(quant)) throw new Error(`bench:correction: --quant must be one of ${QUANTS.join(', ')}, got '${args.quant}'`);
await setupBackend('wasm');
const results = [];
for (const seed of args.seeds!.split(',').map(Number))
  for (const arm of args.arms!.split(',') as Arm[]) {
    if (!ARMS.includes(arm)) throw new Error(`unknown arm ${arm}; one of ${ARMS.join(', ')}`);
    results.push(await run(arm, seed, Number(args.steps)));
  }
console.log(JSON.stringify({ runs: results }));
