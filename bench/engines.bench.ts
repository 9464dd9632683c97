/**
 * `npm run bench:engines`: the rollout engines on the main job's rollout shape (16 prompts × 8
 * completions of the shipped SFT policy at temperature 1, up to 96 new tokens; the SFT model's
 * 128-position window is widened to 192 for it — same weights, RoPE positions past 128 untrained,
 * which the completions, ending on EOS after ~30 tokens, barely reach) — generation tokens/s,
 * weight-sync seconds (mean of 3 syncs), and the engine–trainer mismatch (`mismatch/mismatch_kl`
 * over every sampled token) — for the in-process sampler, llama.cpp with F32 and with Q8_0 weights
 * and the HTTP engine; then the main job's wall time (BENCH_STEPS steps, 3 by default, s/step)
 * with the fastest in-process engine against the in-process sampler, their steps taken in turns; and the same engine figures
 * on a SmolLM2-135M-shaped random model (a smaller rollout: 2 prompts × 4, 16 new tokens; set
 * BENCH_SMOL=0 to skip it; tfjs and llama.cpp only). The last line is one JSON object:
 * `{"engines": {"tfjs": {…}, "llama.cpp": {…}, "llama.cpp-q8_0": {…}, "openai-http": {…}}, "mainJob": {…}, "smolLm2Shaped": {…}}`.
 * Machines and load differ: compare the engines within one run.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  mismatchMetrics,
  policyEngine,
  prepareContainer,
  resolveConfig,
  Trainer,
  type Completion,
  type Policy,
  type RolloutEngine,
  type SamplingOptions,
} from '@grpo/core';
import { defaultPlugins } from '@grpo/cli';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import { OpenAiEngine } from '@grpo/plugin-engine-openai';
import llamaCppEngine, { LlamaCppEngine } from '@grpo/plugin-engine-llama-cpp';
import mathTask, { mathTaskParts, sftCheckpoint } from '@grpo/plugin-math-task';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import transformer, { createPolicy, createPolicyFromConfig } from '@grpo/plugin-transformer';
import { completionServer, listen } from '../packages/cli/src/serve.js';

interface Figures {
  generateTokensPerSec: number;
  syncSeconds: number;
  mismatchKl: number;
}

const round = (x: number, digits = 4) => Number(x.toPrecision(digits));

/** mismatch_kl of completions against the policy's own log-probs, over every token. */
function mismatchOf(policy: Policy, ids: readonly number[][], groups: readonly Completion[][]): number {
  const trainer: number[][] = [];
  const engine: number[][] = [];
  groups.forEach((group, i) =>
    group.forEach((c) => {
      const lp = tf.tidy(() => policy.tokenLogProbs({ prompts: [ids[i]!], completions: [c.tokenIds] }).logprobs.arraySync()[0]!);
      trainer.push(lp.slice(0, c.tokenIds.length));
      engine.push(c.logprobs);
    }),
  );
  return mismatchMetrics({ trainer, engine })['mismatch/mismatch_kl']!;
}

async function measure(
  label: string,
  engine: RolloutEngine,
  policy: Policy,
  prompts: string[],
  groupSize: number,
  sampling: SamplingOptions,
): Promise<Figures> {
  const ids = prompts.map((p) => policy.encodePrompt(p));
  let syncSeconds = 0;
  if (engine.syncWeights) {
    const signal = new AbortController().signal;
    await engine.syncWeights(policy, { signal }); // warm-up: the first load
    const started = performance.now();
    for (let i = 0; i < 3; i++) await engine.syncWeights(policy, { signal });
    syncSeconds = (performance.now() - started) / 3000;
  }
  const requests = prompts.map((text, i) => ({ text, ids: ids[i]! }));
  const started = performance.now();
  const groups = await engine.generate(requests, groupSize, sampling);
  const seconds = (performance.now() - started) / 1000;
  const tokens = groups.flat().reduce((a, c) => a + c.tokenIds.length, 0);
  const figures = { generateTokensPerSec: round(tokens / seconds), syncSeconds: round(syncSeconds), mismatchKl: round(mismatchOf(policy, ids, groups), 3) };
  console.log(
    `${label.padEnd(34)} ${tokens} tokens in ${seconds.toFixed(2)} s: ${figures.generateTokensPerSec} tokens/s; sync ${figures.syncSeconds} s; mismatch_kl ${figures.mismatchKl}`,
  );
  return figures;
}

/** The engines over one policy; the HTTP one talks to an in-process `grpo serve` server on loopback. */
async function allEngines(label: string, policy: Policy, prompts: string[], groupSize: number, sampling: SamplingOptions, threads?: number, http = true) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'grpo-bench-engines-'));
  const served = await createServedCopy(policy, dir);
  const server = completionServer(served, { model: 'bench' });
  const url = await listen(server, '127.0.0.1', 0);
  const llama = new LlamaCppEngine({ threads });
  const llamaQ8 = new LlamaCppEngine({ threads, weightType: 'Q8_0' });
  try {
    const inProcess = {
      tfjs: await measure(`${label} tfjs (in process)`, policyEngine(policy), policy, prompts, groupSize, sampling),
      'llama.cpp': await measure(`${label} llama.cpp (F32)`, llama, policy, prompts, groupSize, sampling),
      'llama.cpp-q8_0': await measure(`${label} llama.cpp (Q8_0)`, llamaQ8, policy, prompts, groupSize, sampling),
    };
    if (!http) return inProcess;
    return {
      ...inProcess,
      'openai-http': await measure(
        `${label} openai-http (grpo serve)`,
        new OpenAiEngine({ baseUrl: url, logprobs: 'processed', sync: { kind: 'checkpoint', dir }, concurrency: 4 }),
        policy,
        prompts,
        groupSize,
        sampling,
      ),
    };
  } finally {
    await llama.close();
    await llamaQ8.close();
    server.close();
    served.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The server's own copy of the policy (another process would load it from a checkpoint the same way). */
async function createServedCopy(policy: Policy, dir: string): Promise<Policy> {
  const initial = path.join(dir, 'initial');
  await policy.save(initial);
  const config = await resolveConfig({ policy: { checkpoint: initial } }, { source: 'bench', defaults: [transformer()] });
  return createPolicyFromConfig(config);
}

/** The SFT checkpoint with its window widened to `maxSeqLen` positions (same weights), in `dir`. */
async function widenedSft(dir: string, maxSeqLen: number): Promise<Policy> {
  const config = await resolveConfig({ policy: { checkpoint: sftCheckpoint() } }, { source: 'bench', defaults: [transformer()] });
  const sft = await createPolicyFromConfig(config);
  await sft.save(dir);
  sft.dispose();
  const file = path.join(dir, 'config.json');
  const saved = JSON.parse(await readFile(file, 'utf8')) as { model: { maxSeqLen: number } };
  saved.model.maxSeqLen = maxSeqLen;
  await writeFile(file, JSON.stringify(saved, null, 2));
  return createPolicyFromConfig(await resolveConfig({ policy: { checkpoint: dir } }, { source: 'bench', defaults: [transformer()] }));
}

type MainEngine = 'policy' | 'llama.cpp' | 'llama.cpp-q8_0';

/** The main job's trainer (grpo.config.ts's settings) with rollouts from `engine`. */
async function mainJobTrainer(engine: MainEngine, outputDir: string, threads?: number): Promise<Trainer> {
  const plugins = [
    mathTask({ seed: 0, trainSize: 20_000, testSize: 300 }),
    ...(engine === 'policy' ? [] : [llamaCppEngine({ ...(threads ? { threads } : {}), weightType: engine === 'llama.cpp' ? 'F32' : 'Q8_0' })]),
  ];
  const config = await resolveConfig(
    {
      plugins,
      seed: 0,
      outputDir,
      policy: { checkpoint: sftCheckpoint() },
      generation: { maxNewTokens: 40, temperature: 1, ...(engine === 'policy' ? {} : { engine: 'llama.cpp' }) },
      train: { steps: 1000, promptsPerStep: 16, groupSize: 8, learningRate: 1e-4, maxGradNorm: 1, logSamplesEvery: 0, checkpointEvery: 0 },
      algorithm: { kl: { beta: 0.04 } },
    },
    { source: 'bench', defaults: defaultPlugins() },
  );
  return Trainer.fromContainer(await prepareContainer(config));
}

/**
 * Seconds per step of the main job with each engine: their trainers take turns, step by step, so
 * that a machine whose load drifts weighs on both alike; each one's first step (engine load, warm-up) is left out.
 */
async function mainJobSecondsPerStep(engines: readonly MainEngine[], steps: number, threads?: number): Promise<Record<string, number>> {
  const outputDir = await mkdtemp(path.join(os.tmpdir(), 'grpo-bench-main-'));
  const trainers = await Promise.all(engines.map((e) => mainJobTrainer(e, path.join(outputDir, e), threads)));
  const seconds = engines.map((): number[] => []);
  for (let s = 0; s <= steps; s++)
    for (const [i, trainer] of trainers.entries()) {
      const started = performance.now();
      await trainer.trainStep();
      if (s > 0) seconds[i]!.push((performance.now() - started) / 1000);
    }
  const out: Record<string, number> = {};
  engines.forEach((e, i) => {
    trainers[i]!.dispose();
    trainers[i]!.policy.dispose();
    const perStep = seconds[i]!.reduce((a, b) => a + b, 0) / seconds[i]!.length;
    console.log(`main job with ${e}: ${seconds[i]!.map((x) => x.toFixed(1)).join(', ')} s per step (mean ${perStep.toFixed(2)})`);
    out[e] = round(perStep, 3);
  });
  await rm(outputDir, { recursive: true, force: true });
  return out;
}

await setupBackend('wasm');
const threads = Number(process.env.BENCH_THREADS ?? 0) || undefined;

const widened = await mkdtemp(path.join(os.tmpdir(), 'grpo-bench-sft-'));
const sft = await widenedSft(widened, 192);
const { train } = mathTaskParts({ seed: 0, trainSize: 16, testSize: 0 });
const prompts = Array.from({ length: 16 }, (_, i) => train.get(i).prompt);
const longest = Math.max(...prompts.map((p) => sft.encodePrompt(p).length));
const maxNewTokens = 96;
console.log(
  `main job's rollout shape: 16 prompts × 8 (the longest ${longest} tokens), up to ${maxNewTokens} new tokens (the SFT model's window widened to ${sft.maxSeqLen}), temperature 1`,
);
const engines = await allEngines('main shape:', sft, prompts, 8, { maxNewTokens, temperature: 1, seed: 0 }, threads);
sft.dispose();
await rm(widened, { recursive: true, force: true });

// The main job's wall time: the fastest in-process engine against the in-process sampler.
const steps = Number(process.env.BENCH_STEPS ?? 3);
const candidates = (['llama.cpp', 'llama.cpp-q8_0'] as const).filter((e) => engines[e].generateTokensPerSec > engines.tfjs.generateTokensPerSec);
const fastest = candidates.sort((a, b) => engines[b].generateTokensPerSec - engines[a].generateTokensPerSec)[0] ?? 'policy';
const mainJob = {
  steps,
  fastestEngine: fastest,
  secondsPerStep: await mainJobSecondsPerStep(fastest === 'policy' ? ['policy'] : ['policy', fastest], steps, threads),
};

let smolLm2Shaped: Partial<Record<string, Figures>> | undefined;
if (process.env.BENCH_SMOL !== '0') {
  // SmolLM2-135M's shape (vocab 49152, 576 wide, 30 layers, 9 heads / 3 KV heads, FFN 1536), random weights.
  const chars = Array.from({ length: 49_148 }, (_, i) => String.fromCodePoint(0x100 + i)).join(''); // + 4 special tokens
  const smol = createPolicy({
    model: { vocabSize: 49_152, dModel: 576, nLayers: 30, nHeads: 9, nKvHeads: 3, ffnDim: 1536, maxSeqLen: 64, tiedEmbeddings: true },
    tokenizer: CharTokenizer.fromChars(chars),
    seed: 1,
  });
  const smolPrompts = [chars.slice(0, 8), chars.slice(100, 108)];
  console.log('SmolLM2-135M-shaped random model: 2 prompts × 4, 16 new tokens, temperature 1');
  // Not through HTTP: grpo serve runs the same tfjs sampler, which is already the slowest here.
  smolLm2Shaped = await allEngines('smol:', smol, smolPrompts, 4, { maxNewTokens: 16, temperature: 1, seed: 0 }, threads, false);
  smol.dispose();
}

console.log(JSON.stringify({ engines, mainJob, ...(smolLm2Shaped ? { smolLm2Shaped } : {}) }));
