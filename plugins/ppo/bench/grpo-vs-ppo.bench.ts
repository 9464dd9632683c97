/**
 * GRPO vs PPO on the same policy, batch and samples per step (`npm run bench:grpo-vs-ppo`).
 *
 * Policy: dModel 128, 4 layers, 4 heads, context 128, a character vocabulary (lower-case letters
 * and space); the PPO critic is a copy of the policy's backbone (the plugin's default; BENCH_CRITIC=64x2
 * builds a smaller one from scratch instead). Each step
 * samples BENCH_PROMPTS prompts × BENCH_GROUP completions of up to BENCH_NEW_TOKENS tokens, scores
 * them (share of the letter `a`), and updates (μ = 1, one mini-batch, β = 0.04 KL in the loss with a
 * reference model). The two configs differ only in `plugins: [ppo()]`. The learning rate is tiny
 * (1e-6) so that both runs keep sampling (nearly) the same completions: the comparison is of the
 * cost of a step, not of what the two algorithms learn.
 *
 * Runs alternate (GRPO, PPO, then PPO, GRPO, …), each in a fresh trainer over a fresh policy with
 * the same seed: one warm-up step, BENCH_STEPS timed steps (wall time of `trainStep`), then one
 * step under `tf.profile`, whose `peakBytes` is the high-water mark of `tf.memory().numBytes`
 * (tensor bytes tracked by tfjs; on wasm, tensors in the wasm heap) sampled after every kernel.
 * `resident` is `tf.memory().numBytes` between steps: weights, reference, optimizer moments.
 *
 * Prints a table and, as the last line, one JSON object.
 */
import { cpus } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import {
  ArrayPromptDataset,
  assembleContainer,
  resolveConfig,
  Trainer,
  Policy,
  PromptDataset,
  RewardFunction,
  type GrpoPlugin,
  type ResolvedConfig,
} from '@grpo/core';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import grpo from '@grpo/plugin-grpo';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { createPolicy } from '@grpo/plugin-transformer';
import ppo from '../src/index.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const PROMPTS = env('BENCH_PROMPTS', 4);
const GROUP = env('BENCH_GROUP', 8);
const NEW_TOKENS = env('BENCH_NEW_TOKENS', 48);
const STEPS = env('BENCH_STEPS', 3);
const ROUNDS = env('BENCH_ROUNDS', 2);
const backend = process.env.BENCH_BACKEND ?? 'wasm';
/** `BENCH_CRITIC=64x2` builds the critic from scratch with dModel 64 and 2 layers instead of copying the policy. */
const criticSize = process.env.BENCH_CRITIC?.match(/^(\d+)x(\d+)$/);
const critic = criticSize ? { model: { dModel: Number(criticSize[1]), nLayers: Number(criticSize[2]), nHeads: 4, maxSeqLen: 128 } } : undefined;

if (backend === 'wasm') await setupBackend('wasm');
else {
  await tf.setBackend(backend);
  await tf.ready();
}

const chars = 'abcdefghijklmnopqrstuvwxyz ';
const tokenizer = CharTokenizer.fromChars(chars);
const prompts = Array.from({ length: 16 }, (_, i) => Array.from({ length: 16 }, (_, j) => chars[(i * 7 + j * 3) % 26]).join(''));

const task: GrpoPlugin = {
  meta: { name: 'bench-task', version: '0.0.0', core: '^0.1.0' },
  register: ({ bind }) => {
    bind(RewardFunction).toConstantValue({
      name: 'share_of_a',
      score: ({ completions }) => completions.map((c) => (c.length ? [...c].filter((ch) => ch === 'a').length / c.length : 0)),
    } satisfies RewardFunction);
    bind(PromptDataset).toConstantValue(
      new ArrayPromptDataset(
        'bench',
        prompts.map((prompt) => ({ prompt })),
      ),
    );
  },
};

type Algo = 'GRPO' | 'PPO';

function config(algo: Algo): Promise<ResolvedConfig> {
  return resolveConfig(
    {
      seed: 1,
      generation: { maxNewTokens: NEW_TOKENS, temperature: 1 },
      train: { steps: 1000, promptsPerStep: PROMPTS, groupSize: GROUP, learningRate: 1e-6, logSamplesEvery: 0 },
      algorithm: { kl: { beta: 0.04 } },
      plugins: algo === 'PPO' ? [task, ppo({ critic })] : [task],
    },
    { source: 'bench', defaults: [grpo()] },
  );
}

interface RunResult {
  stepSec: number[];
  peakBytes: number;
  residentBytes: number;
  genTokens: number;
}

async function run(algo: Algo): Promise<RunResult> {
  const policy = createPolicy({ model: { dModel: 128, nLayers: 4, nHeads: 4, maxSeqLen: 128 }, tokenizer, seed: 0 });
  const container = await assembleContainer(await config(algo));
  container.bind(Policy).toConstantValue(policy);
  const trainer = await Trainer.fromContainer(container);
  await trainer.trainStep(); // warm-up: XNNPACK operators, wasm memory growth, optimizer moments
  const stepSec: number[] = [];
  let genTokens = 0;
  for (let i = 0; i < STEPS; i++) {
    const t0 = performance.now();
    const { metrics } = await trainer.trainStep();
    stepSec.push((performance.now() - t0) / 1000);
    genTokens += (metrics['completions/mean_length'] ?? 0) * PROMPTS * GROUP;
  }
  const residentBytes = tf.memory().numBytes;
  const profile = await tf.profile(async () => {
    await trainer.trainStep();
  });
  trainer.dispose();
  policy.dispose();
  return { stepSec, peakBytes: profile.peakBytes, residentBytes, genTokens: genTokens / STEPS };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const results: Record<Algo, RunResult[]> = { GRPO: [], PPO: [] };
for (let r = 0; r < ROUNDS; r++) {
  const order: Algo[] = r % 2 === 0 ? ['GRPO', 'PPO'] : ['PPO', 'GRPO'];
  for (const algo of order) {
    const res = await run(algo);
    results[algo].push(res);
    console.error(`round ${r + 1} ${algo}: steps ${res.stepSec.map((s) => s.toFixed(2)).join(', ')} s, peak ${(res.peakBytes / 2 ** 20).toFixed(1)} MiB`);
  }
}

const summary = (algo: Algo) => ({
  stepSec: median(results[algo].flatMap((r) => r.stepSec)),
  peakBytes: Math.max(...results[algo].map((r) => r.peakBytes)),
  residentBytes: Math.max(...results[algo].map((r) => r.residentBytes)),
  genTokens: median(results[algo].map((r) => r.genTokens)),
});
const g = summary('GRPO');
const p = summary('PPO');
const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const rows: [string, string, string, string][] = [
  ['', 'GRPO', 'PPO', 'GRPO/PPO'],
  ['peak tensor memory (MiB)', mib(g.peakBytes), mib(p.peakBytes), (g.peakBytes / p.peakBytes).toFixed(3)],
  ['resident between steps (MiB)', mib(g.residentBytes), mib(p.residentBytes), (g.residentBytes / p.residentBytes).toFixed(3)],
  ['wall time per step (s, median)', g.stepSec.toFixed(2), p.stepSec.toFixed(2), (g.stepSec / p.stepSec).toFixed(3)],
  ['generated tokens per step', g.genTokens.toFixed(0), p.genTokens.toFixed(0), ''],
];
console.log(
  `GRPO vs PPO — backend ${tf.getBackend()}, ${cpus().length} CPU cores, policy dModel 128 × 4 layers × 4 heads, context 128, vocab ${tokenizer.vocabSize}`,
);
console.log(
  `critic: ${critic ? `from scratch, dModel ${critic.model.dModel} × ${critic.model.nLayers} layers` : "a copy of the policy's backbone (same size)"}`,
);
console.log(
  `${PROMPTS} prompts × ${GROUP} completions × up to ${NEW_TOKENS} new tokens per step; ${ROUNDS} alternating runs each, ${STEPS} timed steps per run`,
);
console.log('');
console.log(`| ${rows[0]!.join(' | ')} |`);
console.log(`|${rows[0]!.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
for (const row of rows.slice(1)) console.log(`| ${row.join(' | ')} |`);
console.log('');
console.log(
  JSON.stringify({
    backend: tf.getBackend(),
    cores: cpus().length,
    prompts: PROMPTS,
    groupSize: GROUP,
    maxNewTokens: NEW_TOKENS,
    critic: critic ? `${critic.model.dModel}x${critic.model.nLayers}` : 'policy-copy',
    grpoPeakBytes: g.peakBytes,
    ppoPeakBytes: p.peakBytes,
    memoryRatio: g.peakBytes / p.peakBytes,
    grpoResidentBytes: g.residentBytes,
    ppoResidentBytes: p.residentBytes,
    grpoStepSec: g.stepSec,
    ppoStepSec: p.stepSec,
    timeRatio: g.stepSec / p.stepSec,
  }),
);
