import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CheckpointError } from '@grpo/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoraReferencePolicy } from '../src/index.js';
import { exportModel, loadHfPolicy, loadPolicy, readPeftAdapter, resolveLoraConfig, type TransformerPolicy } from '../src/index.js';
import { SafetensorsReader } from '../src/hf/safetensors.js';
import { forwardHidden, lmHead, seqContext } from '../src/model.js';
import { naiveLogits, sampleLogprobs as logprobs, tinyPolicy, useWasm, weightValues, TINY } from './helpers.js';

let dir: string;
beforeAll(async () => {
  await useWasm();
  dir = await mkdtemp(join(tmpdir(), 'grpo-lora-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ALL = resolveLoraConfig({ r: 4, alpha: 8, targetModules: 'all-linear' });

/** A LoRA policy on `tinyPolicy`'s weights whose B matrices are set to non-zero values (as after training). */
function trainedLora(lora = ALL, seed = 3): TransformerPolicy {
  const policy = tinyPolicy(TINY, seed).withLora(lora, seed);
  let s = seed;
  tf.tidy(() => {
    for (const { b } of policy.adapters!.values())
      b.assign(
        tf.tensor(
          Float32Array.from({ length: b.size }, () => ((s = (s * 16807) % 2147483647) / 2147483647 - 0.5) * 0.4),
          b.shape,
        ),
      );
  });
  return policy;
}

/** W + (alpha/r)·A·B in float64, from the variables' values (an independent merge). */
function mergedFloat64(policy: TransformerPolicy): Map<string, Float32Array> {
  const out = weightValues(policy);
  const scale = policy.lora!.alpha / policy.lora!.r;
  for (const [name, { a, b }] of policy.adapters!) {
    const [inDim, r] = a.shape as [number, number];
    const outDim = b.shape[1] as number;
    const A = a.dataSync();
    const B = b.dataSync();
    const W = out.get(name)!;
    const merged = new Float32Array(W.length);
    for (let i = 0; i < inDim; i++)
      for (let j = 0; j < outDim; j++) {
        let acc = 0;
        for (let k = 0; k < r; k++) acc += (A[i * r + k] as number) * (B[k * outDim + j] as number);
        merged[i * outDim + j] = (W[i * outDim + j] as number) + scale * acc;
      }
    out.set(name, merged);
  }
  return out;
}

describe('LoRA policy', () => {
  it('with B = 0 gives exactly the base model: log-probs and greedy generation', async () => {
    const base = tinyPolicy(TINY, 3);
    const expected = logprobs(base);
    const gen = await base.generate(['ab', 'c'], 2, { maxNewTokens: 6, temperature: 0 });
    const lora = base.withLora(ALL, 3);
    expect([...lora.adapters!.values()].every(({ b }) => b.dataSync().every((x) => x === 0))).toBe(true);
    expect(logprobs(lora)).toEqual(expected);
    expect(await lora.generate(['ab', 'c'], 2, { maxNewTokens: 6, temperature: 0 })).toEqual(gen);
    lora.dispose();
  });

  it('initialises A like PEFT: U(−1/√in, 1/√in), different per adapter', () => {
    const policy = tinyPolicy(TINY, 3).withLora(ALL, 3);
    for (const { a } of policy.adapters!.values()) {
      const bound = 1 / Math.sqrt(a.shape[0] as number);
      const v = Array.from(a.dataSync());
      expect(Math.max(...v.map(Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...v.map(Math.abs))).toBeGreaterThan(0.8 * bound);
    }
    policy.dispose();
  });

  it('trains only the adapters: trainableVariables are the A and B matrices; the base variables are frozen', () => {
    const policy = tinyPolicy(TINY, 3).withLora(resolveLoraConfig({ r: 2, targetModules: ['q_proj', 'v_proj'] }), 3);
    const vars = policy.trainableVariables();
    expect(vars).toHaveLength(2 * 2 * TINY.nLayers!);
    expect(vars.map((v) => v.shape)).toEqual([
      [16, 2],
      [2, 16],
      [16, 2],
      [2, 16],
      [16, 2],
      [2, 16],
      [16, 2],
      [2, 16],
    ]);
    expect([...policy.weights.values()].every((v) => !v.trainable)).toBe(true);
    policy.dispose();
  });

  it('runs the adapters as the merged weights do, and both match a float64 reference', () => {
    const policy = trainedLora();
    const merged = policy.merge();
    const a = logprobs(policy);
    const b = logprobs(merged);
    expect(a).not.toEqual(logprobs(tinyPolicy(TINY, 3)));
    a.forEach((row, i) => row.forEach((x, j) => expect(Math.abs(x - b[i]![j]!)).toBeLessThan(1e-5)));
    // Logits of the adapter-on model against the float64 model on independently merged weights.
    const ids = [1, 5, 6, 8, 9];
    const ref = naiveLogits(policy.config, mergedFloat64(policy), ids);
    const got = tf.tidy(() => logitsOf(policy, ids));
    got.forEach((row, t) => row.forEach((x, v) => expect(Math.abs(x - ref[t]![v]!)).toBeLessThan(1e-4)));
    policy.dispose();
    merged.dispose();
  });

  it('gives a reference policy that is the base with the adapters off, sharing the weights (no copy)', () => {
    const policy = trainedLora();
    const before = tf.memory().numBytes;
    const ref = policy.referencePolicy() as LoraReferencePolicy;
    expect(tf.memory().numBytes).toBe(before);
    expect(ref.adaptersOn).toBe(false);
    const base = tinyPolicy(TINY, 3);
    expect(logprobs(ref)).toEqual(logprobs(base));
    base.dispose();
    // A reset copies the adapters (small), not the base.
    ref.syncFrom(policy);
    expect(logprobs(ref)).toEqual(logprobs(policy));
    expect(() => ref.syncFrom(policy, 0.5)).toThrow(/TR-DPO/);
    ref.dispose();
    expect(tf.memory().numBytes).toBe(before);
    policy.dispose();
  });

  it('dropout: the same batch gets the same masks (π_old ratio 1); none at generation', async () => {
    const policy = tinyPolicy(TINY, 3).withLora(resolveLoraConfig({ r: 4, alpha: 8, dropout: 0.5, targetModules: 'all-linear' }), 3);
    tf.tidy(() => {
      for (const { b } of policy.adapters!.values()) b.assign(tf.fill(b.shape, 0.3));
    });
    const merged = policy.merge();
    expect(logprobs(policy)).toEqual(logprobs(policy));
    const diff = logprobs(policy)
      .flat()
      .some((x, i) => Math.abs(x - logprobs(merged).flat()[i]!) > 1e-4);
    expect(diff).toBe(true); // dropout changes the training pass
    const options = { maxNewTokens: 6, temperature: 0 };
    const a = (await policy.generate(['ab'], 1, options))[0]![0];
    const b = (await merged.generate(['ab'], 1, options))[0]![0];
    expect(a!.tokenIds).toEqual(b!.tokenIds);
    a!.logprobs.forEach((x, i) => expect(Math.abs(x - b!.logprobs[i]!)).toBeLessThan(1e-5));
    policy.dispose();
    merged.dispose();
  });

  it('saves adapters in PEFT layout (adapter_config.json, adapter_model.safetensors with PEFT key names and shapes) and loads them back', async () => {
    const policy = trainedLora(resolveLoraConfig({ r: 4, alpha: 16, targetModules: ['q_proj', 'v_proj', 'down_proj'] }));
    const out = join(dir, 'peft-ckpt');
    await policy.save(out);
    const config = JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: 4,
      lora_alpha: 16,
      target_modules: ['q_proj', 'v_proj', 'down_proj'],
      bias: 'none',
    });
    const reader = await SafetensorsReader.open(join(out, 'adapter_model.safetensors'));
    const shapes = Object.fromEntries([...reader.tensors].map(([k, v]) => [k, v.shape]));
    await reader.close();
    expect(shapes['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight']).toEqual([4, 16]);
    expect(shapes['base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight']).toEqual([16, 4]);
    expect(shapes['base_model.model.model.layers.1.mlp.down_proj.lora_A.weight']).toEqual([4, 24]);
    expect(shapes['base_model.model.model.layers.1.mlp.down_proj.lora_B.weight']).toEqual([16, 4]);
    expect(Object.keys(shapes)).toHaveLength(2 * 3 * 2);
    // PEFT's lora_A.weight is A transposed: element [k, i] of the file is A[i, k] here.
    const peft = await readPeftAdapter(out, policy.config);
    const a = policy.adapters!.get('layers.0.attn.wq')!.a.dataSync();
    expect(peft.values.get('layers.0.attn.wq')!.a).toEqual(a);
    const loaded = await loadPolicy(out);
    expect(loaded.lora).toEqual(policy.lora);
    expect(logprobs(loaded)).toEqual(logprobs(policy));
    loaded.dispose();
    policy.dispose();
  });

  it('saveAdapter writes the adapters alone; loadAdapter puts them on another copy of the base, which then scores as the policy does', async () => {
    const lora = resolveLoraConfig({ r: 4, alpha: 16, targetModules: ['q_proj', 'v_proj', 'down_proj'] });
    const policy = trainedLora(lora);
    const out = join(dir, 'adapter-only');
    await policy.saveAdapter!(out);
    expect((await readdir(out)).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    // The same base with fresh adapters (B = 0: the base model) until the trained ones are loaded.
    const copy = tinyPolicy(TINY, 3).withLora(lora, 9);
    expect(logprobs(copy)).not.toEqual(logprobs(policy));
    await copy.loadAdapter!(out);
    expect(logprobs(copy)).toEqual(logprobs(policy));
    // A different setup is refused, naming the file and what differs.
    const other = tinyPolicy(TINY, 3).withLora(resolveLoraConfig({ r: 2, alpha: 16, targetModules: ['q_proj', 'v_proj', 'down_proj'] }), 9);
    await expect(other.loadAdapter!(out)).rejects.toThrow(CheckpointError);
    await expect(other.loadAdapter!(out)).rejects.toThrow(
      /adapter-only[/\\]adapter_config\.json: this adapter differs from the policy's policy\.lora \(r 4 ≠ 2/,
    );
    // A policy that trains all its weights has no adapter to save or load.
    const plain = tinyPolicy(TINY, 3);
    expect(plain.saveAdapter).toBeUndefined();
    expect(plain.loadAdapter).toBeUndefined();
    for (const p of [policy, copy, other, plain]) p.dispose();
  });

  it('refuses PEFT settings it does not implement, naming the key', async () => {
    const policy = trainedLora();
    const out = join(dir, 'peft-dora');
    await policy.save(out);
    const file = join(out, 'adapter_config.json');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, JSON.stringify({ ...JSON.parse(await readFile(file, 'utf8')), use_dora: true, bias: 'all' }));
    await expect(readPeftAdapter(out, policy.config)).rejects.toThrow(CheckpointError);
    await expect(readPeftAdapter(out, policy.config)).rejects.toThrow(/use_dora[\s\S]*|bias "all"/);
    policy.dispose();
  });
});

describe('export', () => {
  it('hf: a Hugging Face directory (LoRA merged) that the HF loader reads back with the same logits', async () => {
    const policy = trainedLora();
    const ckpt = join(dir, 'export-src');
    await policy.save(ckpt);
    const merged = policy.merge();
    const out = join(dir, 'export-hf');
    const { files } = await exportModel({ checkpoint: ckpt, format: 'hf', out });
    expect(files).toEqual(expect.arrayContaining(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json']));
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ architectures: ['LlamaForCausalLM'], hidden_size: 16, num_hidden_layers: 2, intermediate_size: 24, torch_dtype: 'float32' });
    const back = await loadHfPolicy(out);
    expect(logprobs(back)).toEqual(logprobs(merged));
    back.dispose();
    policy.dispose();
    merged.dispose();
  });

  for (const dtype of ['BF16', 'F16'] as const)
    it(`hf --dtype ${dtype.toLowerCase()}: weights rounded to nearest (ties to even), logits those of the rounded weights`, async () => {
      const policy = trainedLora();
      const ckpt = join(dir, `export-src-${dtype}`);
      await policy.save(ckpt);
      const out = join(dir, `export-${dtype}`);
      await exportModel({ checkpoint: ckpt, format: 'hf', dtype, out });
      const back = await loadHfPolicy(out);
      const merged = policy.merge();
      for (const [name, v] of merged.weights) {
        const expected = Array.from(v.dataSync(), (x) => roundTo(x, dtype));
        expect(Array.from(back.weights.get(name)!.dataSync())).toEqual(expected);
      }
      tf.tidy(() => {
        for (const v of merged.weights.values())
          v.assign(
            tf.tensor(
              Float32Array.from(v.dataSync(), (x) => roundTo(x, dtype)),
              v.shape,
            ),
          );
      });
      expect(logprobs(back)).toEqual(logprobs(merged));
      back.dispose();
      merged.dispose();
      policy.dispose();
    });

  it('peft: only the adapter files; a policy without adapters is refused', async () => {
    const policy = trainedLora();
    const ckpt = join(dir, 'export-peft-src');
    await policy.save(ckpt);
    const { files } = await exportModel({ checkpoint: ckpt, format: 'peft', out: join(dir, 'export-peft') });
    expect(files).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const { values } = await readPeftAdapter(join(dir, 'export-peft'), policy.config);
    expect(values.get('layers.1.mlp.w2')!.b).toEqual(policy.adapters!.get('layers.1.mlp.w2')!.b.dataSync());
    const plain = tinyPolicy();
    await plain.save(join(dir, 'plain'));
    await expect(exportModel({ checkpoint: join(dir, 'plain'), format: 'peft', out: join(dir, 'x') })).rejects.toThrow(/no LoRA adapters/);
    plain.dispose();
    policy.dispose();
  });
});

/** `x` rounded to the nearest BF16/F16 value, ties to even, in float64 arithmetic (normal numbers). */
function roundTo(x: number, dtype: 'BF16' | 'F16'): number {
  if (x === 0) return x;
  const mantissaBits = dtype === 'BF16' ? 7 : 10;
  const e = Math.max(Math.floor(Math.log2(Math.abs(x))), dtype === 'F16' ? -14 : -126);
  const ulp = 2 ** (e - mantissaBits);
  const q = x / ulp;
  const f = Math.floor(q);
  const r = q - f === 0.5 ? (f % 2 === 0 ? f : f + 1) : Math.round(q);
  return r * ulp;
}

/** Logits `[T][V]` of one sequence with the policy's adapters on. */
function logitsOf(policy: TransformerPolicy, ids: number[]): number[][] {
  const { cfg, weights, tables, lora } = policy.model;
  const { hidden } = forwardHidden(cfg, weights, Int32Array.from(ids), seqContext(cfg, tables, 1, ids.length), false, lora);
  return lmHead(cfg, weights, hidden).arraySync();
}
