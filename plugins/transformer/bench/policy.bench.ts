/**
 * Policy throughput, with PyTorch's on the same model measured in the same run, and a per-stage
 * profile of a GRPO step. Reference model: dModel 128, 4 layers, 4 heads, context 128, a 64-token
 * vocabulary.
 *
 * - generation: 64 sequences (8 prompts × G = 8) with 32 prompt tokens and 96 new tokens, with
 *   the KV cache (and, with BENCH_NO_CACHE=1, with full recompute);
 * - training: forward + backward + AdamW on a batch of 32 × 128 tokens;
 * - PyTorch: `policy_torch.py` (the same model and workloads in plain PyTorch, Debian's
 *   python3-torch) runs as a server next to this process; each round times ours, then PyTorch's,
 *   for generation and then for training, and the ratio is taken round by round (the machine's
 *   speed drifts; a ratio of neighbours does not). Without a Python that imports torch the
 *   ratios are null and the reason is printed.
 * - stages: one GRPO step shaped like the main job's (16 prompts × 8 samples of 40 new tokens;
 *   π_ref log-probs and the update in micro-batches of 32) plus one evaluation batch (64 prompts,
 *   greedy, and 8 samples each), timed stage by stage.
 *
 * Prints tables and, as the last line, one JSON object with every figure.
 *
 * Environment: BENCH_BACKEND (default: the config's default backend), BENCH_ROUNDS (3),
 * BENCH_TRAIN_STEPS (training steps per round, 2), BENCH_PYTHON (the Python to run PyTorch with;
 * `0` skips PyTorch), TORCH_THREADS (PyTorch's threads, default the number of cores),
 * BENCH_NO_CACHE=1, BENCH_PROFILE=1 (the ten most expensive kernels of each stage).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import type { Tokenizer } from '@grpo/core';
import { AdamW, resolveConfig } from '@grpo/core';
import { setupBackend as setupCpu } from '@grpo/plugin-backend-cpu';
import { nativeInfo, setupBackend as setupNative } from '@grpo/plugin-backend-native';
import { setupBackend as setupWasm } from '@grpo/plugin-backend-wasm';
import { createPolicy, type TransformerPolicy } from '../src/index.js';

const env = process.env;
const requested = env.BENCH_BACKEND ?? (await resolveConfig({}, { source: 'bench' })).backend;
const setups: Record<string, () => Promise<void>> = {
  wasm: () => setupWasm(),
  cpu: () => setupCpu(),
  native: () => setupNative(),
};
const setup = setups[requested];
if (!setup) throw new Error(`BENCH_BACKEND: one of ${Object.keys(setups).join(', ')}`);
await setup();
const backend = tf.getBackend();
const rounds = Math.max(1, Number(env.BENCH_ROUNDS ?? 3));
const trainSteps = Math.max(1, Number(env.BENCH_TRAIN_STEPS ?? 2));

/** 64 tokens: PAD, BOS, EOS and 61 characters. */
const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.slice(0, 61);
const tokenizer: Tokenizer = {
  kind: 'bench',
  vocabSize: 64,
  padId: 0,
  bosId: 1,
  eosId: 2,
  encode: (text, o) => [...(o?.addBos ? [1] : []), ...[...text].map((c) => 3 + chars.indexOf(c)), ...(o?.addEos ? [2] : [])],
  decode: (ids) =>
    ids
      .filter((i) => i >= 3)
      .map((i) => chars[i - 3])
      .join(''),
  save: async () => {},
};

const MODEL = { dModel: 128, nLayers: 4, nHeads: 4, maxSeqLen: 128 } as const;
const policy: TransformerPolicy = createPolicy({ model: MODEL, tokenizer, seed: 0 });
const cfg = policy.config;

const prompts = Array.from({ length: 8 }, (_, i) => Array.from({ length: 31 }, (_, j) => chars[(i * 7 + j * 3) % 61]).join(''));
const genOptions = { maxNewTokens: 96, temperature: 1, seed: 1 };

// ---------------------------------------------------------------------------------------------
// The PyTorch reference, as a server.

interface TorchAnswer {
  tokens: number;
  seconds: number;
  cpuSeconds: number;
}

class TorchReference {
  private lines: AsyncIterator<string>;
  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    readonly version: string,
    readonly threads: number,
  ) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  static async start(): Promise<TorchReference | string> {
    if (env.BENCH_PYTHON === '0') return 'skipped (BENCH_PYTHON=0)';
    const candidates = env.BENCH_PYTHON ? [env.BENCH_PYTHON] : ['python3', '/usr/bin/python3'];
    const python = candidates.find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
    if (!python) return `no Python that imports torch among ${candidates.join(', ')} (Debian: apt-get install -y python3-torch; or set BENCH_PYTHON)`;
    const script = join(dirname(fileURLToPath(import.meta.url)), 'policy_torch.py');
    const child = spawn(python, [script], { env: { ...env, TORCH_THREADS: env.TORCH_THREADS ?? String(availableParallelism()) } });
    child.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.done) return `${python} ${script} exited before it was ready`;
    const ready = JSON.parse(first.value) as { torch: string; threads: number };
    const ref = new TorchReference(child, ready.torch, ready.threads);
    ref.lines = lines;
    return ref;
  }

  async run(cmd: Record<string, unknown>): Promise<TorchAnswer> {
    this.child.stdin.write(`${JSON.stringify(cmd)}\n`);
    const line = await this.lines.next();
    if (line.done) throw new Error('the PyTorch reference exited');
    return JSON.parse(line.value) as TorchAnswer;
  }

  stop(): void {
    this.child.stdin.write('{"cmd": "quit"}\n');
    this.child.stdin.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Our workloads.

/** Seconds of CPU this process used since `c0` (all its threads: the native backend's pool too). */
const cpuSince = (c0: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
};

async function generateOnce(cache: boolean): Promise<{ tokens: number; seconds: number; cpuSeconds: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = cache ? await policy.generate(prompts, 8, genOptions) : await policy.generateNoCache(prompts, 8, genOptions);
  const seconds = (performance.now() - t0) / 1000;
  // EOS can end a completion early; count the tokens actually generated.
  return { tokens: out.flat().reduce((n, c) => n + c.tokenIds.length, 0), seconds, cpuSeconds: cpuSince(c0) };
}

const B = 32;
const T = 128;
const trainBatch = {
  prompts: Array.from({ length: B }, (_, b) => Array.from({ length: 32 }, (_, j) => 3 + ((b + j) % 61))),
  completions: Array.from({ length: B }, (_, b) => Array.from({ length: T - 32 }, (_, j) => 3 + ((b * 5 + j * 2) % 61))),
};
const vars = policy.trainableVariables();
const optimizer = new AdamW({ beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });

function trainStep(batch = trainBatch): tf.Scalar {
  const { value, grads } = tf.variableGrads(() => {
    const { logprobs } = policy.tokenLogProbs(batch);
    return tf.neg(tf.mean(logprobs)) as tf.Scalar;
  }, vars);
  optimizer.update(vars, grads as Record<string, tf.Tensor>, { lr: 1e-4, maxGradNorm: 1 });
  return value;
}

async function trainOnce(steps: number): Promise<{ tokens: number; seconds: number; cpuSeconds: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const v = trainStep();
    await v.data();
    v.dispose();
  }
  return { tokens: steps * B * T, seconds: (performance.now() - t0) / 1000, cpuSeconds: cpuSince(c0) };
}

/** Multiply-adds ×2 of the products of one forward pass over `tokens` tokens of rows of length `T`. */
function forwardFlops(tokens: number, rowLength: number): number {
  const d = cfg.dModel;
  const hd = d / cfg.nHeads;
  const kv = cfg.nKvHeads * hd;
  const perLayer = d * (d + 2 * kv + d) + 3 * d * cfg.ffnDim + hd * hd * (cfg.nHeads + cfg.nKvHeads) + 2 * rowLength * cfg.nHeads * hd;
  return 2 * tokens * (cfg.nLayers * perLayer + 2 * cfg.vocabSize * d);
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

// ---------------------------------------------------------------------------------------------
// Stages of one GRPO step shaped like the main job's.

async function profiled<T>(label: string, f: () => Promise<T> | T): Promise<{ value: T; seconds: number }> {
  if (!env.BENCH_PROFILE) {
    const t0 = performance.now();
    const value = await f();
    return { value, seconds: (performance.now() - t0) / 1000 };
  }
  let value: T | undefined;
  const t0 = performance.now();
  const info = await tf.profile(async () => {
    value = await f();
  });
  const seconds = (performance.now() - t0) / 1000;
  const byKernel = new Map<string, number>();
  for (const k of info.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (k.kernelTimeMs as number));
  console.log(`  ${label}: ten most expensive kernels (ms)`);
  for (const [name, ms] of [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`    ${name.padEnd(24)} ${ms.toFixed(1)}`);
  return { value: value as T, seconds };
}

async function stages(): Promise<Record<string, number>> {
  const stepPrompts = Array.from({ length: 16 }, (_, i) => Array.from({ length: 20 + (i % 9) }, (_, j) => chars[(i * 11 + j * 5) % 61]).join(''));
  const sampling = { maxNewTokens: 40, temperature: 1, seed: 3 };
  const generation = await profiled('generation', () => policy.generate(stepPrompts, 8, sampling));
  const samples = generation.value.flatMap((group, p) =>
    group.map((c) => ({ prompt: tokenizer.encode(stepPrompts[p] as string, { addBos: true }), completion: c.tokenIds.length ? c.tokenIds : [2] })),
  );
  const micro: { prompts: number[][]; completions: number[][] }[] = [];
  for (let i = 0; i < samples.length; i += 32) {
    const part = samples.slice(i, i + 32);
    micro.push({ prompts: part.map((s) => s.prompt), completions: part.map((s) => s.completion) });
  }
  const reference = policy.snapshot();
  const logprobs = await profiled('log-probs', async () => {
    for (const m of micro) await tf.tidy(() => reference.tokenLogProbs(m).logprobs).data();
  });
  reference.dispose();
  const update = await profiled('update', async () => {
    let accumulated: Record<string, tf.Tensor> | undefined;
    for (const m of micro) {
      const { value, grads } = tf.variableGrads(() => tf.neg(tf.mean(policy.tokenLogProbs(m).logprobs)) as tf.Scalar, vars);
      await value.data();
      value.dispose();
      if (!accumulated) accumulated = grads as Record<string, tf.Tensor>;
      else
        for (const [k, g] of Object.entries(grads)) {
          const prev = accumulated[k] as tf.Tensor;
          accumulated[k] = tf.add(prev, g);
          tf.dispose([prev, g]);
        }
    }
    optimizer.update(vars, accumulated ?? {}, { lr: 1e-4, maxGradNorm: 1 });
  });
  const evalPrompts = Array.from({ length: 64 }, (_, i) => Array.from({ length: 20 + (i % 9) }, (_, j) => chars[(i * 13 + j * 7) % 61]).join(''));
  const evaluation = await profiled('evaluation', async () => {
    await policy.generate(evalPrompts, 1, { maxNewTokens: 40, temperature: 0, seed: 4 });
    await policy.generate(evalPrompts, 8, { maxNewTokens: 40, temperature: 1, seed: 5 });
  });
  return { generation: generation.seconds, logprobs: logprobs.seconds, update: update.seconds, evaluation: evaluation.seconds };
}

// ---------------------------------------------------------------------------------------------

const torch = await TorchReference.start();
// Warm-up (kernel set-up, wasm memory growth) of both.
await policy.generate(prompts.slice(0, 2), 2, { ...genOptions, maxNewTokens: 4 });
const warm = trainStep();
await warm.data();
warm.dispose();

const ours = { generate: [] as number[], train: [] as number[] };
const theirs = { generate: [] as number[], train: [] as number[] };
const ratios = { generate: [] as number[], train: [] as number[] };
/** The same ratio in tokens per CPU-second: less sensitive to other processes on a busy machine. */
const cpuRatios = { generate: [] as number[], train: [] as number[] };
for (let r = 0; r < rounds; r++) {
  const g = await generateOnce(true);
  ours.generate.push(g.tokens / g.seconds);
  if (typeof torch !== 'string') {
    const t = await torch.run({ cmd: 'generate' });
    theirs.generate.push(t.tokens / t.seconds);
    ratios.generate.push(g.tokens / g.seconds / (t.tokens / t.seconds));
    cpuRatios.generate.push(g.tokens / g.cpuSeconds / (t.tokens / t.cpuSeconds));
  }
  const tr = await trainOnce(trainSteps);
  ours.train.push(tr.tokens / tr.seconds);
  if (typeof torch !== 'string') {
    const t = await torch.run({ cmd: 'train', steps: trainSteps });
    theirs.train.push(t.tokens / t.seconds);
    ratios.train.push(tr.tokens / tr.seconds / (t.tokens / t.seconds));
    cpuRatios.train.push(tr.tokens / tr.cpuSeconds / (t.tokens / t.cpuSeconds));
  }
}
if (typeof torch !== 'string') torch.stop();
const noCache = env.BENCH_NO_CACHE ? await generateOnce(false) : undefined;
const stageSeconds = await stages();
optimizer.dispose();
policy.dispose();

const fmt = (x: number, digits = 0) => x.toFixed(digits).padStart(10);
const trainTps = median(ours.train);
const trainGflops = (3 * forwardFlops(B * (T - 1), T - 1) * trainTps) / (B * T) / 1e9;
const info = backend === 'native' ? nativeInfo() : undefined;
console.log(`backend: ${backend}${info ? ` (${info.threads} threads, ${info.blas})` : ''}${requested !== backend ? ` — '${requested}' was asked for` : ''}`);
console.log(
  typeof torch === 'string'
    ? `PyTorch reference: not run: ${torch}`
    : `PyTorch reference: torch ${torch.version}, ${torch.threads} threads, interleaved with ours in ${rounds} rounds`,
);
console.log(`${'tokens/s (median of rounds)'.padEnd(36)}${'ours'.padStart(10)}${'PyTorch'.padStart(10)}${'ratio'.padStart(10)}`);
const row = (name: string, o: number[], t: number[], q: number[]) =>
  console.log(`${name.padEnd(36)}${fmt(median(o))}${t.length ? fmt(median(t)) : '       n/a'}${q.length ? fmt(median(q), 2) : '       n/a'}`);
row('generate (KV cache)', ours.generate, theirs.generate, ratios.generate);
row('train (32×128, fwd+bwd+AdamW)', ours.train, theirs.train, ratios.train);
if (cpuRatios.train.length)
  console.log(
    `ratio in tokens per CPU-second (ours / PyTorch): generate ${median(cpuRatios.generate).toFixed(2)}, train ${median(cpuRatios.train).toFixed(2)}`,
  );
if (noCache) console.log(`${'generate (no cache)'.padEnd(36)}${fmt(noCache.tokens / noCache.seconds)}`);
console.log(`training products: ${trainGflops.toFixed(1)} GFLOP/s (model FLOPs of forward + backward)`);
const stageTotal = Object.values(stageSeconds).reduce((a, b) => a + b, 0);
console.log('GRPO step stages (16 prompts × 8 samples × 40 tokens; micro-batches of 32; one evaluation batch of 64 prompts):');
for (const [name, s] of Object.entries(stageSeconds)) console.log(`  ${name.padEnd(12)}${fmt(s, 2)} s ${fmt((100 * s) / stageTotal, 1)} %`);

const round = (x: number, digits = 0) => Number(x.toFixed(digits));
console.log(
  JSON.stringify({
    backend,
    generateTokensPerSec: round(median(ours.generate)),
    trainTokensPerSec: round(trainTps),
    ...(noCache ? { generateTokensPerSecNoCache: round(noCache.tokens / noCache.seconds) } : {}),
    trainGflops: round(trainGflops, 1),
    torch:
      typeof torch === 'string'
        ? null
        : {
            version: torch.version,
            threads: torch.threads,
            generateTokensPerSec: round(median(theirs.generate)),
            trainTokensPerSec: round(median(theirs.train)),
          },
    ratio: typeof torch === 'string' ? null : { generate: round(median(ratios.generate), 2), train: round(median(ratios.train), 2) },
    ratioPerCpuSecond: typeof torch === 'string' ? null : { generate: round(median(cpuRatios.generate), 2), train: round(median(cpuRatios.train), 2) },
    rounds,
    stagesSeconds: Object.fromEntries(Object.entries(stageSeconds).map(([k, v]) => [k, round(v, 2)])),
  }),
);
