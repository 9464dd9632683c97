/**
 * `npm run bench:hf`: Hugging Face–shaped models through the real loader, on the default backend
 * (`native`, @grpo/plugin-backend-native) or, with `BENCH_HF_BACKEND=wasm`, on wasm. For each shape it writes a random-weight model directory (BF16, as both are published; random bit patterns of magnitude 2⁻⁸…2⁻⁴)
 * into a temporary directory, then measures in a child process of its own (so that a shape the
 * backend cannot hold is reported, not a crash of the benchmark):
 *
 * - load time (`loadHfPolicy`) and resident memory (RSS) after loading;
 * - generation tokens/s with the KV cache: 8 prompts × G = 4 of 16 tokens;
 * - LoRA training tokens/s: forward + backward + AdamW over the adapters (r 16, all linear
 *   projections) on 4 sequences of 16 + 32 tokens, with the reference's log-probs (taken before
 *   the pass, as GRPO's pipeline does) for a KL term and the entropy as GRPO's update takes it;
 * - the memory the adapter-off reference saves: a full fine-tune's reference is a copy of the
 *   weights once the policy has been updated (the bytes the backend holds for them, measured
 *   when they load); LoRA's reference shares them (the backend's bytes measured before and after
 *   creating it and after a training step).
 *
 * The issue asks for 128 new tokens per completion; on 2 shared CPU cores with wasm that takes
 * minutes per shape, so the default is 32 and `BENCH_HF_NEW_TOKENS=128` runs the full figure.
 * `BENCH_HF_MODELS=smollm2-135m` runs one shape; `BENCH_HF_PHASES=train` one phase;
 * `BENCH_HF_TRAIN_BATCH` and `BENCH_HF_TRAIN_COMPLETION` set the training pass's sequences and
 * completion tokens (4 and 32); `BENCH_HF_TRAIN_BATCH=auto` takes the most sequences (≤ 4) that
 * the pre-flight memory estimate (src/memory.ts) fits. A phase the estimate refuses is reported as
 * not fitting, with the estimate's message, and the benchmark goes on. `BENCH_HF_PHASES=memory`
 * compares the estimate with measured memory: LoRA training passes of `BENCH_HF_MEMORY_BATCHES`
 * (default 1,2) sequences of 48 tokens and a small generation, each metered (peak tensor bytes
 * on the heap, `heap-meter.ts`) and with the wasm heap's size read after it. Prints a table and, last, one JSON object.
 */
import { spawnSync } from 'node:child_process';
import { open, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { AdamW, GrpoError } from '@grpo/core';
import { setupBackend as setupNative } from '@grpo/plugin-backend-native';
import { setupBackend as setupWasm } from '@grpo/plugin-backend-wasm';
import { loadHfPolicy, resolveLoraConfig, type TransformerPolicy } from '../src/index.js';
import { adapterParameterCount, generationBytes, heapRoom, passBytes, projectionBytes } from '../src/memory.js';
import { hasDecodeAttention } from '../src/kernels.js';
import { heapPeak } from './heap-meter.js';
import { hfTensorShapes } from '../test/hf-fixtures.js';

/**
 * The published config.json values of the two shapes (the fields that set the computation and the
 * sizes): HuggingFaceTB/SmolLM2-135M/config.json and Qwen/Qwen2.5-0.5B/config.json on the
 * Hugging Face Hub. `max_position_embeddings` is as published; the benchmark's sequences are short.
 */
const SHAPES: Record<string, Record<string, unknown>> = {
  // HuggingFaceTB/SmolLM2-135M config.json
  'smollm2-135m': {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 576,
    intermediate_size: 1536,
    num_hidden_layers: 30,
    num_attention_heads: 9,
    num_key_value_heads: 3,
    head_dim: 64,
    hidden_act: 'silu',
    max_position_embeddings: 8192,
    rms_norm_eps: 1e-5,
    rope_theta: 100000,
    rope_scaling: null,
    tie_word_embeddings: true,
    vocab_size: 49152,
    attention_bias: false,
    mlp_bias: false,
    bos_token_id: 0,
    eos_token_id: 0,
    torch_dtype: 'bfloat16',
  },
  // Qwen/Qwen2.5-0.5B config.json
  'qwen2.5-0.5b': {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    hidden_size: 896,
    intermediate_size: 4864,
    num_hidden_layers: 24,
    num_attention_heads: 14,
    num_key_value_heads: 2,
    hidden_act: 'silu',
    max_position_embeddings: 32768,
    max_window_layers: 24,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    sliding_window: 32768,
    use_sliding_window: false,
    tie_word_embeddings: true,
    vocab_size: 151936,
    bos_token_id: 151643,
    eos_token_id: 151643,
    torch_dtype: 'bfloat16',
  },
};

/** A small shape for checking the benchmark itself (`BENCH_HF_MODELS=tiny`); not in the default list. */
const TINY = {
  ...SHAPES['smollm2-135m'],
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 16,
  vocab_size: 512,
};
const DEFAULT_MODELS = Object.keys(SHAPES);
SHAPES.tiny = TINY;
/**
 * Small shapes each dominated by one term of the memory estimate (src/memory.ts), for calibrating
 * it with `BENCH_HF_PHASES=memory`: the layers' activations, the vocabulary, and (with long
 * sequences, e.g. `BENCH_HF_TRAIN_COMPLETION=240`) the attention scores.
 */
SHAPES['calib-layers'] = { ...TINY, num_hidden_layers: 4, vocab_size: 64 };
SHAPES['calib-vocab'] = { ...TINY, num_hidden_layers: 1, vocab_size: 16384 };
SHAPES['calib-attention'] = { ...TINY, num_attention_heads: 8, head_dim: 8, vocab_size: 64 };

/** `native` (the default backend, @grpo/plugin-backend-native: OpenBLAS products on the wasm heap) or `wasm`. */
const BACKEND = process.env.BENCH_HF_BACKEND ?? 'native';
if (BACKEND !== 'wasm' && BACKEND !== 'native') throw new Error(`BENCH_HF_BACKEND: wasm or native, not ${BACKEND}`);
const NEW_TOKENS = Number(process.env.BENCH_HF_NEW_TOKENS ?? 32);
const PROMPTS = 8;
const GROUP = 4;
const PROMPT_LEN = 16;
/** `auto`: the largest of 4, 3, 2, 1 sequences whose pre-flight estimate fits the heap (src/memory.ts). */
const TRAIN_BATCH = process.env.BENCH_HF_TRAIN_BATCH ?? '4';
const TRAIN = {
  batch: TRAIN_BATCH === 'auto' ? 4 : Number(TRAIN_BATCH),
  prompt: 16,
  completion: Number(process.env.BENCH_HF_TRAIN_COMPLETION ?? 32),
  steps: Number(process.env.BENCH_HF_TRAIN_STEPS ?? 2),
};
type Phase = 'generate' | 'train' | 'memory';
const PHASES = (process.env.BENCH_HF_PHASES ?? 'generate,train').split(',') as Phase[];
/** The memory phase's training passes (sequences of 16 + 32 tokens each), in increasing order. */
const MEMORY_BATCHES = (process.env.BENCH_HF_MEMORY_BATCHES ?? '1,2').split(',').map(Number);
const LORA = resolveLoraConfig({ r: 16, alpha: 32, targetModules: 'all-linear' });

/** Streams a BF16 safetensors file of random weights (norm gains 1), one tensor at a time. */
async function writeRandomModel(dir: string, config: Record<string, unknown>): Promise<number> {
  const shapes = hfTensorShapes(config);
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, shape] of shapes) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2;
    header[name] = { dtype: 'BF16', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const file = await open(join(dir, 'model.safetensors'), 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  await file.write(len);
  await file.write(Buffer.from(json));
  // Random BF16 bit patterns drawn directly (two per 32-bit draw): sign, exponent 2⁻⁸…2⁻⁵, mantissa at random.
  let s = 0x9e3779b9;
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const out = new Uint16Array(n);
    if (name.endsWith('norm.weight'))
      out.fill(0x3f80); // 1.0
    else
      for (let i = 0; i < n; i += 2) {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        out[i] = (s & 0x807f) | ((119 + ((s >>> 7) & 3)) << 7);
        out[i + 1] = ((s >>> 16) & 0x807f) | ((119 + ((s >>> 23) & 3)) << 7);
      }
    await file.write(new Uint8Array(out.buffer, 0, n * 2));
  }
  await file.close();
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return offset;
}

/** What a shape's child process reports, phase by phase (a later phase may fail). */
interface ShapeResult {
  model: string;
  params?: number;
  loadSeconds?: number;
  rssMiB?: number;
  weightsMiB?: number;
  generateTokensPerSec?: number;
  loraTrainTokensPerSec?: number;
  /** Seconds per LoRA step (policy forward + backward, the reference's forward, AdamW). */
  loraStepSeconds?: number;
  referenceSavedMiB?: number;
  loraReferenceMiB?: number;
  /** RSS at the end of the training phase (its own process). */
  trainRssMiB?: number;
  /** Sequences per LoRA training pass (with `BENCH_HF_TRAIN_BATCH=auto`, the largest the estimate fits). */
  trainBatch?: number;
  /** A phase the pre-flight memory estimate refused (src/memory.ts), with its message. */
  refused?: string[];
  /** The memory phase: the estimate of each pass against what it took. */
  memory?: MemoryRow[];
  error?: string;
}

/** One pass of the memory phase. All in MiB beyond the bytes resident before it. */
interface MemoryRow {
  pass: string;
  estimateMiB: number;
  /** The high-water mark of tensor bytes on the wasm heap during the pass (`heapPeak`: its allocations and frees). */
  measuredMiB: number;
  /** The wasm heap's size after the pass less the tensor bytes before it (when the pass grew the heap; else an upper bound). */
  heapMiB: number;
  heapGrew: boolean;
}

/** Prints a phase's figures as one JSON line on stdout; the parent merges them. */
const report = (figures: Partial<ShapeResult>) => console.log(JSON.stringify(figures));

const MiB = 2 ** 20;
const ids = (n: number, seed: number, vocab: number) => Array.from({ length: n }, (_, j) => 3 + ((seed * 7919 + j * 104729) % (vocab - 3)));

/** One shape, in this process: what the module doc lists. */
async function measure(name: string, dir: string, phase: Phase): Promise<void> {
  // fallback: false — a native figure must not silently be a wasm one.
  await (BACKEND === 'native' ? setupNative('native', { fallback: false }) : setupWasm());
  const bytes0 = tf.memory().numBytes;
  const t0 = performance.now();
  const base = await loadHfPolicy(dir);
  const loadSeconds = (performance.now() - t0) / 1000;
  const weightsBytes = tf.memory().numBytes - bytes0;
  const rssMiB = process.memoryUsage().rss / MiB;
  const params = [...base.weights.values()].reduce((n, v) => n + v.size, 0);
  console.error(`${name}: loaded ${(params / 1e6).toFixed(1)}M parameters in ${loadSeconds.toFixed(1)} s`);
  report({ model: name, params, loadSeconds, rssMiB, weightsMiB: weightsBytes / MiB });

  const policy: TransformerPolicy = base.withLora(LORA, 0);
  try {
    if (phase === 'generate') await measureGeneration(name, policy, weightsBytes);
    else if (phase === 'train') await measureTraining(name, policy, weightsBytes);
    else await measureMemory(name, policy);
  } catch (error) {
    // The pre-flight estimate's refusal (a GrpoError naming the estimate and what fits): reported, not a crash.
    if (!(error instanceof GrpoError)) throw error;
    console.error(`${name}: ${phase}: ${error.message}`);
    report({ refused: [`${phase}: ${error.message}`] });
  }
  policy.dispose();
}

/** The heap's size now (the wasm module's memory). */
const heapSize = () => heapRoom()?.heapSize ?? 0;

/**
 * Estimate against measurement: LoRA training passes (log-probs with entropy, gradients of the
 * adapters) of increasing size, then one generation, each metered (`heapPeak`: the high-water
 * mark of tensor bytes on the heap) and with the wasm heap's size read after it.
 */
async function measureMemory(name: string, policy: TransformerPolicy): Promise<void> {
  const cfg = policy.config;
  const vocab = cfg.vocabSize;
  const vars = policy.trainableVariables();
  const rows: MemoryRow[] = [];
  // On wasm the first products pack the weights (XNNPACK's copies, counted as in use by the check): done before measuring.
  await policy.generateFromIds([ids(4, 0, vocab)], 1, { maxNewTokens: 2, temperature: 1, seed: 0 });
  const transposedHead = BACKEND === 'wasm' && cfg.tiedEmbeddings;
  const row = async (pass: string, estimate: number, run: () => Promise<void> | void) => {
    // What the policy's check counts as in use: the tensors, and on wasm the packed weights.
    const before = heapRoom(projectionBytes(cfg))!.inUse;
    const heapBefore = heapSize();
    const peak = await heapPeak(run);
    const heapAfter = heapSize();
    rows.push({ pass, estimateMiB: estimate / MiB, measuredMiB: peak / MiB, heapMiB: (heapAfter - before) / MiB, heapGrew: heapAfter > heapBefore });
    console.error(
      `${name}: ${pass}: estimate ${(estimate / MiB).toFixed(0)} MiB, measured ${(peak / MiB).toFixed(0)} MiB, heap ${((heapAfter - before) / MiB).toFixed(0)} MiB`,
    );
  };
  for (const B of MEMORY_BATCHES) {
    const batch = {
      prompts: Array.from({ length: B }, (_, b) => ids(TRAIN.prompt, b, vocab)),
      completions: Array.from({ length: B }, (_, b) => ids(TRAIN.completion, b + 100, vocab)),
    };
    const T = TRAIN.prompt + TRAIN.completion - 1;
    const forward = passBytes(cfg, B, T, { trainableParams: 0, entropy: true, transposedHead }).total;
    await row(`log-probs ${B}×${T + 1}`, forward, () => {
      tf.tidy(() => void policy.referencePolicy().tokenLogProbs(batch, { entropy: true }));
    });
    const estimate = passBytes(cfg, B, T, { trainableParams: adapterParameterCount(cfg, LORA), entropy: true, lora: LORA, transposedHead }).total;
    await row(`train ${B}×${T + 1}`, estimate, () => {
      const { value, grads } = tf.variableGrads(() => {
        const { logprobs } = policy.tokenLogProbs(batch, { entropy: true });
        return tf.neg(tf.mean(logprobs)) as tf.Scalar;
      }, vars);
      tf.dispose([value, ...Object.values(grads)]);
    });
  }
  const P = 2;
  const G = 2;
  const newTokens = 16;
  const prompts = Array.from({ length: P }, (_, i) => ids(PROMPT_LEN, i, vocab));
  const estimate = generationBytes(cfg, {
    prompts: P,
    groupSize: G,
    promptLength: PROMPT_LEN,
    maxNewTokens: newTokens,
    preallocated: hasDecodeAttention(),
    lora: LORA,
    transposedHead,
  }).total;
  await row(`generate ${P}×G${G}, ${PROMPT_LEN}+${newTokens}`, estimate, async () => {
    await policy.generateFromIds(prompts, G, { maxNewTokens: newTokens, temperature: 1, seed: 0 });
  });
  report({ memory: rows });
}

async function measureGeneration(name: string, policy: TransformerPolicy, weightsBytes: number): Promise<void> {
  const vocab = policy.config.vocabSize;
  const prompts = Array.from({ length: PROMPTS }, (_, i) => ids(PROMPT_LEN, i, vocab));
  await policy.generateFromIds(prompts.slice(0, 1), 1, { maxNewTokens: 2, temperature: 1, seed: 0 });
  const t1 = performance.now();
  const out = await policy.generateFromIds(prompts, GROUP, { maxNewTokens: NEW_TOKENS, temperature: 1, seed: 1 });
  const genSeconds = (performance.now() - t1) / 1000;
  const generated = out.flat().reduce((n, c) => n + c.tokenIds.length, 0);
  console.error(`${name}: generated ${generated} tokens in ${genSeconds.toFixed(1)} s`);
  report({ generateTokensPerSec: generated / genSeconds, rssMiB: process.memoryUsage().rss / MiB });
  // The reference a LoRA run gets: the backend's bytes before and after creating it (the training phase measures again after a step).
  const before = tf.memory().numBytes;
  const reference = policy.referencePolicy();
  const referenceBytes = tf.memory().numBytes - before;
  report({ referenceSavedMiB: (weightsBytes - referenceBytes) / MiB, loraReferenceMiB: referenceBytes / MiB });
  reference.dispose();
}

async function measureTraining(name: string, policy: TransformerPolicy, weightsBytes: number): Promise<void> {
  const vocab = policy.config.vocabSize;
  const before = tf.memory().numBytes;
  const reference = policy.referencePolicy();
  if (TRAIN_BATCH === 'auto') {
    // The largest pass the pre-flight estimate fits beside what is resident (as the policy's own check computes it).
    const room = heapRoom(projectionBytes(policy.config));
    const fits = (n: number) =>
      !room ||
      passBytes(policy.config, n, TRAIN.prompt + TRAIN.completion - 1, {
        trainableParams: adapterParameterCount(policy.config, LORA),
        entropy: true,
        lora: LORA,
        transposedHead: BACKEND === 'wasm' && policy.config.tiedEmbeddings,
      }).total <=
        room.limit - room.inUse;
    while (TRAIN.batch > 1 && !fits(TRAIN.batch)) TRAIN.batch--;
  }
  report({ trainBatch: TRAIN.batch });
  const batch = {
    prompts: Array.from({ length: TRAIN.batch }, (_, b) => ids(TRAIN.prompt, b, vocab)),
    completions: Array.from({ length: TRAIN.batch }, (_, b) => ids(TRAIN.completion, b + 100, vocab)),
  };
  const vars = policy.trainableVariables();
  const opt = new AdamW({ beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 });
  const step = () => {
    // The reference's log-probs outside the gradient, as GRPO's pipeline takes them (before the update).
    const ref = tf.tidy(() => reference.tokenLogProbs(batch).logprobs);
    const { value, grads } = tf.variableGrads(() => {
      // With the entropy, as GRPO's update takes it (a metric), and a KL-to-reference term as its loss has.
      const { logprobs } = policy.tokenLogProbs(batch, { entropy: true });
      return tf.add(tf.neg(tf.mean(logprobs)), tf.mul(0.04, tf.mean(tf.sub(logprobs, ref)))) as tf.Scalar;
    }, vars);
    ref.dispose();
    opt.update(vars, grads as Record<string, tf.Tensor>, { lr: 1e-4, maxGradNorm: 1 });
    tf.dispose(Object.values(grads));
    return value;
  };
  const warm = step();
  await warm.data();
  warm.dispose();
  const t2 = performance.now();
  for (let i = 0; i < TRAIN.steps; i++) {
    const v = step();
    await v.data();
    v.dispose();
  }
  const trainSeconds = (performance.now() - t2) / 1000;
  const adapterBytes = vars.reduce((n, v) => n + v.size * 4, 0);
  // What the policy, its reference and the optimizer hold beyond the loaded weights: adapters and their two AdamW moments.
  const loraReferenceBytes = tf.memory().numBytes - before - 2 * adapterBytes;
  console.error(`${name}: ${TRAIN.steps} LoRA steps in ${trainSeconds.toFixed(1)} s`);
  report({
    loraTrainTokensPerSec: (TRAIN.steps * TRAIN.batch * (TRAIN.prompt + TRAIN.completion)) / trainSeconds,
    loraStepSeconds: trainSeconds / TRAIN.steps,
    referenceSavedMiB: (weightsBytes - loraReferenceBytes) / MiB,
    loraReferenceMiB: loraReferenceBytes / MiB,
    trainRssMiB: process.memoryUsage().rss / MiB,
  });
  reference.dispose();
  opt.dispose();
}

const one = process.argv.indexOf('--one');
if (one >= 0) {
  await measure(process.argv[one + 1]!, process.argv[one + 2]!, process.argv[one + 3] as Phase);
} else {
  const names = (process.env.BENCH_HF_MODELS ?? DEFAULT_MODELS.join(',')).split(',');
  const results: ShapeResult[] = [];
  for (const name of names) {
    const config = SHAPES[name];
    if (!config) throw new Error(`unknown shape ${name}; known: ${Object.keys(SHAPES).join(', ')}`);
    const dir = await mkdtemp(join(tmpdir(), `grpo-bench-hf-${name}-`));
    try {
      const fileBytes = await writeRandomModel(dir, config);
      console.error(`${name}: wrote ${(fileBytes / MiB).toFixed(0)} MiB of BF16 weights`);
      // Generation and training each in a process of their own: one phase's memory does not limit the other.
      const result: ShapeResult = { model: name };
      const errors: string[] = [];
      for (const phase of PHASES) {
        const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--one', name, dir, phase], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'inherit'],
          maxBuffer: 1 << 24,
        });
        for (const line of child.stdout.split('\n'))
          if (line.startsWith('{')) {
            const figures = JSON.parse(line) as Partial<ShapeResult>;
            Object.assign(result, { ...figures, ...(figures.refused ? { refused: [...(result.refused ?? []), ...figures.refused] } : {}) });
          }
        if (child.status !== 0) errors.push(`${phase} stopped (exit ${child.status ?? child.signal})`);
      }
      if (errors.length)
        result.error = `${errors.join('; ')} on ${BACKEND} (tensors live in wasm's heap, limited to 4 GB, on both backends; the error above says what stopped it)`;
      results.push(result);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  console.log(
    `backend: ${BACKEND}; generation ${PROMPTS} prompts × G ${GROUP}, ${PROMPT_LEN} prompt tokens, ${NEW_TOKENS} new tokens; LoRA r ${LORA.r} all-linear, ${TRAIN_BATCH === 'auto' ? 'the most (≤ 4) that fit of' : TRAIN.batch} sequences of ${TRAIN.prompt} + ${TRAIN.completion} tokens`,
  );
  console.log(
    `${'model'.padEnd(14)}${'params'.padStart(9)}${'load s'.padStart(8)}${'RSS MiB'.padStart(9)}${'gen tok/s'.padStart(11)}${'LoRA train tok/s'.padStart(18)}${'step s'.padStart(8)}${'ref saved MiB'.padStart(15)}`,
  );
  const num = (v: number | undefined, digits: number, width: number) => (v === undefined ? '—' : v.toFixed(digits)).padStart(width);
  for (const r of results) {
    console.log(
      `${r.model.padEnd(14)}${(r.params === undefined ? '—' : `${(r.params / 1e6).toFixed(0)}M`).padStart(9)}${num(r.loadSeconds, 1, 8)}${num(r.rssMiB, 0, 9)}${num(r.generateTokensPerSec, 1, 11)}${num(r.loraTrainTokensPerSec, 1, 18)}${num(r.loraStepSeconds, 1, 8)}${num(r.referenceSavedMiB, 0, 15)}`,
    );
    for (const refused of r.refused ?? []) console.log(`  does not fit, not run: ${refused}`);
    if (r.error) console.log(`  ${r.error}`);
    for (const m of r.memory ?? [])
      console.log(
        `  memory ${m.pass.padEnd(22)} estimate ${m.estimateMiB.toFixed(0).padStart(6)} MiB  measured ${m.measuredMiB.toFixed(0).padStart(6)} MiB (${((100 * m.estimateMiB) / m.measuredMiB - 100).toFixed(0)}%)  heap ${m.heapGrew ? '' : '≤'}${m.heapMiB.toFixed(0)} MiB`,
      );
  }
  console.log(JSON.stringify({ backend: BACKEND, newTokens: NEW_TOKENS, batch: PROMPTS, groupSize: GROUP, models: results }));
}
