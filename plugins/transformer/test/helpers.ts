import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll } from 'vitest';
import type { TokenBatch } from '@grpo/core';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import type { TransformerConfig } from '../src/config.js';
import { forwardHidden, lmHead, seqContext } from '../src/model.js';
import { createPolicy, type FrozenTransformerPolicy, type ModelOptions, type TransformerPolicy } from '../src/index.js';

export async function useWasm(): Promise<void> {
  await tf.setBackend('wasm');
  await tf.ready();
}

/** A test file's temporary directory (`dir.path`), on the wasm backend: made before its tests, removed after them. */
export function wasmTempDir(prefix: string): { readonly path: string } {
  const dir = { path: '' };
  beforeAll(async () => {
    await useWasm();
    dir.path = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    if (dir.path) await rm(dir.path, { recursive: true, force: true });
  });
  return dir;
}

export const CHARS = 'abcdefghijklmnopqrstuvwxyz .,!?0123456789';
export function charTokenizer(): CharTokenizer {
  return CharTokenizer.fromChars(CHARS.split(''));
}

/** Two prompts with completions of different lengths (padding on both sides), in `TINY`'s vocabulary. */
export const SAMPLE_BATCH: TokenBatch = {
  prompts: [
    [1, 5, 6],
    [1, 7],
  ],
  completions: [[8, 9, 2], [10]],
};

/** The per-token log-probs of `SAMPLE_BATCH` under `model`, as arrays (tensors disposed). */
export const sampleLogprobs = (model: { tokenLogProbs(b: TokenBatch): { logprobs: tf.Tensor2D } }): number[][] =>
  tf.tidy(() => model.tokenLogProbs(SAMPLE_BATCH).logprobs.arraySync());

export const TINY: ModelOptions = { dModel: 16, nLayers: 2, nHeads: 4, ffnDim: 24, maxSeqLen: 48 };

/** A tiny policy whose weights are re-drawn with a larger scale so outputs are far from uniform. */
export function tinyPolicy(model: ModelOptions = TINY, seed = 1, scale = 0.3): TransformerPolicy {
  const policy = createPolicy({ model, tokenizer: charTokenizer(), seed });
  if (scale > 0) {
    let s = seed * 7919 + 17;
    const rand = () => {
      // xorshift-ish deterministic normal approximation (sum of uniforms).
      let acc = 0;
      for (let i = 0; i < 4; i++) {
        s = (s * 1103515245 + 12345) % 2147483648;
        acc += s / 2147483648;
      }
      return (acc - 2) * Math.sqrt(3);
    };
    tf.tidy(() => {
      for (const [name, v] of policy.weights) {
        if (name.endsWith('norm.weight')) {
          v.assign(
            tf.tensor(
              Float32Array.from({ length: v.size }, () => 1 + 0.2 * rand()),
              v.shape,
            ),
          );
          continue;
        }
        v.assign(
          tf.tensor(
            Float32Array.from({ length: v.size }, () => scale * rand()),
            v.shape,
          ),
        );
      }
    });
  }
  return policy;
}

/** The policy's logits `[T][V]` at every position of one unpadded sequence fed from position 0. */
export function logitsAt(policy: TransformerPolicy, ids: readonly number[]): number[][] {
  return tf.tidy(() => {
    const { cfg, weights, tables } = policy.model;
    const { hidden } = forwardHidden(cfg, weights, Int32Array.from(ids), seqContext(cfg, tables, 1, ids.length));
    return lmHead(cfg, weights, hidden).arraySync();
  });
}

/** Weight values as plain arrays. */
export function weightValues(policy: TransformerPolicy | FrozenTransformerPolicy): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, v] of policy.weights) out.set(name, v.dataSync() as Float32Array);
  return out;
}

/**
 * An independent float64 reference of the model, written with plain loops from the Llama
 * definition: logits `[T][V]` for one unpadded sequence.
 */
export function naiveLogits(cfg: TransformerConfig, w: Map<string, Float32Array>, ids: readonly number[]): number[][] {
  const d = cfg.dModel;
  const H = cfg.nHeads;
  const Hkv = cfg.nKvHeads;
  const hd = d / H;
  const T = ids.length;
  const get = (n: string) => w.get(n) as Float32Array;
  const matvec = (x: number[], m: Float32Array, rows: number, cols: number) => {
    const out = new Array<number>(cols).fill(0);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j] = (out[j] as number) + (x[i] as number) * (m[i * cols + j] as number);
    return out;
  };
  const rms = (x: number[], g: Float32Array) => {
    const ms = x.reduce((s, v) => s + v * v, 0) / x.length;
    const r = 1 / Math.sqrt(ms + cfg.normEps);
    return x.map((v, i) => v * r * (g[i] as number));
  };
  const rope = (x: number[], pos: number) => {
    const out = x.slice();
    const half = hd / 2;
    for (let h = 0; h < x.length / hd; h++)
      for (let i = 0; i < half; i++) {
        const theta = pos / Math.pow(cfg.ropeBase, (2 * i) / hd);
        const a = x[h * hd + i] as number;
        const b = x[h * hd + i + half] as number;
        out[h * hd + i] = a * Math.cos(theta) - b * Math.sin(theta);
        out[h * hd + i + half] = b * Math.cos(theta) + a * Math.sin(theta);
      }
    return out;
  };
  const E = get('embed.weight');
  let xs = ids.map((id) => Array.from(E.subarray(id * d, (id + 1) * d)));
  for (let l = 0; l < cfg.nLayers; l++) {
    const p = `layers.${l}`;
    const hs = xs.map((x) => rms(x, get(`${p}.attn_norm.weight`)));
    const qs = hs.map((h, t) => rope(matvec(h, get(`${p}.attn.wq`), d, H * hd), t));
    const ks = hs.map((h, t) => rope(matvec(h, get(`${p}.attn.wk`), d, Hkv * hd), t));
    const vs = hs.map((h) => matvec(h, get(`${p}.attn.wv`), d, Hkv * hd));
    const att = xs.map(() => new Array<number>(H * hd).fill(0));
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / (H / Hkv));
      for (let t = 0; t < T; t++) {
        const scores: number[] = [];
        for (let s = 0; s <= t; s++) {
          let dot = 0;
          for (let i = 0; i < hd; i++) dot += (qs[t] as number[])[h * hd + i]! * (ks[s] as number[])[kvh * hd + i]!;
          scores.push(dot / Math.sqrt(hd));
        }
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let s = 0; s <= t; s++)
          for (let i = 0; i < hd; i++) (att[t] as number[])[h * hd + i]! += ((e[s] as number) / z) * (vs[s] as number[])[kvh * hd + i]!;
      }
    }
    xs = xs.map((x, t) => {
      const o = matvec(att[t] as number[], get(`${p}.attn.wo`), H * hd, d);
      return x.map((v, i) => v + (o[i] as number));
    });
    xs = xs.map((x) => {
      const h = rms(x, get(`${p}.mlp_norm.weight`));
      const a = matvec(h, get(`${p}.mlp.w1`), d, cfg.ffnDim);
      const b = matvec(h, get(`${p}.mlp.w3`), d, cfg.ffnDim);
      const g = a.map((v, i) => (v / (1 + Math.exp(-v))) * (b[i] as number));
      const o = matvec(g, get(`${p}.mlp.w2`), cfg.ffnDim, d);
      return x.map((v, i) => v + (o[i] as number));
    });
  }
  return xs.map((x) => {
    const h = rms(x, get('norm.weight'));
    if (cfg.tiedEmbeddings) {
      return Array.from({ length: cfg.vocabSize }, (_, v) => h.reduce((s, hv, i) => s + hv * (E[v * d + i] as number), 0));
    }
    return matvec(h, get('lm_head.weight'), d, cfg.vocabSize);
  });
}

export function logSoftmax(xs: readonly number[]): number[] {
  const m = Math.max(...xs);
  const z = Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0)) + m;
  return xs.map((x) => x - z);
}

export function argmaxOf(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if ((xs[i] as number) > (xs[best] as number)) best = i;
  return best;
}
