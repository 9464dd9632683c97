/**
 * `npm run bench:engines`: the rollout engines on the main job's rollout shape (16 prompts × 8
 * completions of the shipped SFT policy at temperature 1, up to 96 new tokens within the model's
 * 128-token window) — generation tokens/s, weight-sync seconds (mean of 3 syncs), and the
 * engine–trainer mismatch (`mismatch/mismatch_kl` over every sampled token) — and the same on a
 * SmolLM2-135M-shaped random model (a smaller rollout: 2 prompts × 4, 16 new tokens; set
 * BENCH_SMOL=0 to skip it; tfjs and llama.cpp only). The last line is one JSON object:
 * `{"engines": {"tfjs": {…}, "llama.cpp": {…}, "openai-http": {…}}, "smolLm2Shaped": {…}}`.
 * Machines and load differ: compare the engines within one run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { mismatchMetrics, policyEngine, resolveConfig, type Completion, type Policy, type RolloutEngine, type SamplingOptions } from '@grpo/core';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import { OpenAiEngine } from '@grpo/plugin-engine-openai';
import { LlamaCppEngine } from '@grpo/plugin-engine-llama-cpp';
import { mathTaskParts, sftCheckpoint } from '@grpo/plugin-math-task';
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

/** The three engines over one policy; the HTTP one talks to an in-process `grpo serve` server on loopback. */
async function allEngines(label: string, policy: Policy, prompts: string[], groupSize: number, sampling: SamplingOptions, threads?: number, http = true) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'grpo-bench-engines-'));
  const served = await createServedCopy(policy, dir);
  const server = completionServer(served, { model: 'bench' });
  const url = await listen(server, '127.0.0.1', 0);
  const llama = new LlamaCppEngine({ threads });
  try {
    const inProcess = {
      tfjs: await measure(`${label} tfjs (in process)`, policyEngine(policy), policy, prompts, groupSize, sampling),
      'llama.cpp': await measure(`${label} llama.cpp`, llama, policy, prompts, groupSize, sampling),
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

await setupBackend('wasm');
const threads = Number(process.env.BENCH_THREADS ?? 0) || undefined;

const config = await resolveConfig({ policy: { checkpoint: sftCheckpoint() } }, { source: 'bench', defaults: [transformer()] });
const sft = await createPolicyFromConfig(config);
const { train } = mathTaskParts({ seed: 0, trainSize: 16, testSize: 0 });
const prompts = Array.from({ length: 16 }, (_, i) => train.get(i).prompt);
const longest = Math.max(...prompts.map((p) => sft.encodePrompt(p).length));
const maxNewTokens = Math.min(96, (sft.maxSeqLen ?? 128) - longest);
console.log(`main job's rollout shape: 16 prompts × 8, up to ${maxNewTokens} new tokens (the SFT model's window is ${sft.maxSeqLen}), temperature 1`);
const engines = await allEngines('main shape:', sft, prompts, 8, { maxNewTokens, temperature: 1, seed: 0 }, threads);
sft.dispose();

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

console.log(JSON.stringify({ engines, ...(smolLm2Shaped ? { smolLm2Shaped } : {}) }));
