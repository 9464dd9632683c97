import * as tf from '@tensorflow/tfjs';
import type { Tokenizer } from '@grpo/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeStep, forwardHidden, leftPaddedContext, lmHead, type LayerKv } from '../src/model.js';
import { gatherRows } from '../src/kernels.js';
import type { ModelOptions } from '../src/config.js';
import { TINY, argmaxOf, logSoftmax, naiveLogits, tinyPolicy, useWasm, weightValues } from './helpers.js';

beforeAll(useWasm);

const CONFIGS: [string, ModelOptions][] = [
  ['tied, multi-head', TINY],
  ['untied, grouped-query (2 kv heads)', { ...TINY, nKvHeads: 2, tiedEmbeddings: false }],
  ['untied, multi-query (1 kv head)', { ...TINY, nKvHeads: 1, tiedEmbeddings: false }],
];

describe.each(CONFIGS)('KV-cache decoding (%s)', (_, model) => {
  it('gives the logits of a full recompute and of the float64 reference at every step (1e-4)', () => {
    const policy = tinyPolicy(model);
    const { cfg } = policy.model;
    const ref = weightValues(policy);
    const prompts = [
      [1, 5, 6, 7, 8, 9],
      [1, 10],
      [1, 11, 12, 13],
    ];
    const fed = [
      [4, 5, 6, 7, 8],
      [9, 9, 10, 11, 12],
      [13, 14, 4, 4, 5],
    ];
    const T = 6;
    const pads = prompts.map((p) => T - p.length);
    const ids = new Int32Array(prompts.length * T);
    prompts.forEach((p, b) => ids.set(p, b * T + (pads[b] as number)));
    const n0 = tf.memory().numTensors;
    let cache = tf.tidy(() => forwardHidden(cfg, policy.weights, ids, leftPaddedContext(cfg, policy.model.tables, T, pads), true).kv);
    for (let step = 0; step < 5; step++) {
      const L = T + step;
      const bias = new Float32Array(prompts.length * (L + 1));
      pads.forEach((pad, b) => bias.fill(-1e9, b * (L + 1), b * (L + 1) + pad));
      const tokens = new Int32Array(fed.map((f) => f[step] as number));
      const positions = prompts.map((p) => p.length + step);
      const out = tf.tidy(() => {
        const r = decodeStep(cfg, policy.weights, policy.model.tables, tokens, positions, cache, tf.tensor4d(bias, [prompts.length, 1, 1, L + 1]));
        return { logits: r.logits, kv: r.cache };
      });
      for (const l of cache) tf.dispose([l.k, l.v]);
      cache = out.kv as LayerKv[];
      const got = (out.logits as tf.Tensor2D).arraySync();
      (out.logits as tf.Tensor).dispose();
      // Full recompute (tfjs, left-padded) and the float64 reference (unpadded).
      const full = prompts.map((p, b) => [...p, ...(fed[b] as number[]).slice(0, step + 1)]);
      const Tf = Math.max(...full.map((f) => f.length));
      const fpads = full.map((f) => Tf - f.length);
      const fids = new Int32Array(full.length * Tf);
      full.forEach((f, b) => fids.set(f, b * Tf + (fpads[b] as number)));
      const recompute = tf.tidy(() => {
        const { hidden } = forwardHidden(cfg, policy.weights, fids, leftPaddedContext(cfg, policy.model.tables, Tf, fpads));
        return lmHead(
          cfg,
          policy.weights,
          gatherRows(
            hidden,
            full.map((_, b) => b * Tf + Tf - 1),
          ),
        );
      });
      const rec = recompute.arraySync();
      recompute.dispose();
      full.forEach((f, b) => {
        const naive = naiveLogits(cfg, ref, f).at(-1) as number[];
        for (let v = 0; v < cfg.vocabSize; v++) {
          expect(Math.abs((got[b] as number[])[v]! - (rec[b] as number[])[v]!)).toBeLessThan(1e-4);
          expect(Math.abs((got[b] as number[])[v]! - naive[v]!)).toBeLessThan(1e-4);
        }
      });
    }
    for (const l of cache) tf.dispose([l.k, l.v]);
    expect(tf.memory().numTensors).toBe(n0);
    policy.dispose();
  });

  it('generates the same greedy tokens with and without the cache, equal to argmax decoding of the reference', async () => {
    const policy = tinyPolicy(model);
    const ref = weightValues(policy);
    const prompts = ['hello', 'a', 'abc de'];
    const n0 = tf.memory().numTensors;
    const cached = await policy.generate(prompts, 2, { maxNewTokens: 8, temperature: 0 });
    const uncached = await policy.generateNoCache(prompts, 2, { maxNewTokens: 8, temperature: 0 });
    const nearZero = await policy.generate(prompts, 2, { maxNewTokens: 8, temperature: 1e-6, seed: 8 });
    expect(tf.memory().numTensors).toBe(n0);
    prompts.forEach((p, i) => {
      const seq = policy.encodePrompt(p);
      const expected: number[] = [];
      for (let s = 0; s < 8; s++) {
        const next = argmaxOf(naiveLogits(policy.model.cfg, ref, seq).at(-1) as number[]);
        expected.push(next);
        seq.push(next);
        if (next === policy.tokenizer.eosId) break;
      }
      for (const g of [0, 1]) {
        expect(cached[i]?.[g]?.tokenIds).toEqual(expected);
        expect(uncached[i]?.[g]?.tokenIds).toEqual(expected);
        expect(nearZero[i]?.[g]?.tokenIds).toEqual(expected);
      }
    });
    policy.dispose();
  });
});

/** Upper χ² quantile (Wilson–Hilferty) at z standard deviations. */
function chiSquareCritical(df: number, z: number): number {
  const a = 2 / (9 * df);
  return df * Math.pow(1 - a + z * Math.sqrt(a), 3);
}

function chiSquare(counts: number[], probs: number[], n: number): { stat: number; df: number } {
  // Bins with expected count < 5 are merged into one.
  let stat = 0;
  let bins = 0;
  let restObs = 0;
  let restExp = 0;
  probs.forEach((p, i) => {
    const e = p * n;
    if (e < 5) {
      restObs += counts[i] as number;
      restExp += e;
      return;
    }
    stat += ((counts[i] as number) - e) ** 2 / e;
    bins++;
  });
  if (restExp > 0) {
    stat += (restObs - restExp) ** 2 / restExp;
    bins++;
  }
  return { stat, df: bins - 1 };
}

describe('sampling', () => {
  it('draws first tokens with the frequencies of softmax(logits / T) (χ²), and rejects a wrong temperature', async () => {
    const policy = tinyPolicy();
    const ref = weightValues(policy);
    const prompt = 'the cat';
    const logits = naiveLogits(policy.model.cfg, ref, policy.encodePrompt(prompt)).at(-1) as number[];
    const n = 4000;
    const out = await policy.generate([prompt], n, { maxNewTokens: 1, temperature: 0.7, seed: 11 });
    const counts = new Array<number>(logits.length).fill(0);
    for (const c of out[0] ?? []) counts[c.tokenIds[0] as number] = (counts[c.tokenIds[0] as number] as number) + 1;
    const probsAt = (t: number) => logSoftmax(logits.map((x) => x / t)).map(Math.exp);
    const right = chiSquare(counts, probsAt(0.7), n);
    const wrong = chiSquare(counts, probsAt(1), n);
    // z = 3.7: a correct sampler fails with probability ~1e-4.
    expect(right.stat).toBeLessThan(chiSquareCritical(right.df, 3.7));
    expect(wrong.stat).toBeGreaterThan(chiSquareCritical(wrong.df, 3.7));
    // The reported log-probs are those of the tempered distribution.
    const lp = logSoftmax(logits.map((x) => x / 0.7));
    for (const c of (out[0] ?? []).slice(0, 50)) expect(c.logprobs[0]).toBeCloseTo(lp[c.tokenIds[0] as number] as number, 4);
    policy.dispose();
  });

  it('restricts the support with top-k and top-p and renormalises the log-probs', async () => {
    const policy = tinyPolicy();
    const ref = weightValues(policy);
    const prompt = 'dog';
    const logits = naiveLogits(policy.model.cfg, ref, policy.encodePrompt(prompt)).at(-1) as number[];
    const order = logits.map((_, i) => i).sort((a, b) => (logits[b] as number) - (logits[a] as number));
    const probs = logSoftmax(logits).map(Math.exp);

    const topK = await policy.generate([prompt], 400, { maxNewTokens: 1, temperature: 1, topK: 3, seed: 2 });
    const allowedK = new Set(order.slice(0, 3));
    const zK = order.slice(0, 3).reduce((s, i) => s + (probs[i] as number), 0);
    const seenK = new Set<number>();
    for (const c of topK[0] ?? []) {
      const t = c.tokenIds[0] as number;
      seenK.add(t);
      expect(allowedK.has(t)).toBe(true);
      expect(c.logprobs[0]).toBeCloseTo(Math.log((probs[t] as number) / zK), 4);
    }
    expect(seenK.size).toBe(3);

    const p = 0.5;
    let cum = 0;
    const nucleus: number[] = [];
    for (const i of order) {
      nucleus.push(i);
      cum += probs[i] as number;
      if (cum >= p) break;
    }
    const topP = await policy.generate([prompt], 400, { maxNewTokens: 1, temperature: 1, topP: p, seed: 3 });
    const zP = nucleus.reduce((s, i) => s + (probs[i] as number), 0);
    const seenP = new Set<number>();
    for (const c of topP[0] ?? []) {
      const t = c.tokenIds[0] as number;
      seenP.add(t);
      expect(nucleus).toContain(t);
      expect(c.logprobs[0]).toBeCloseTo(Math.log((probs[t] as number) / zP), 4);
    }
    expect(seenP.size).toBe(nucleus.length);
    expect(nucleus.length).toBeLessThan(logits.length);
    policy.dispose();
  });

  it('is reproducible: same seed, same completions; another seed, other completions', async () => {
    const policy = tinyPolicy();
    const opts = { maxNewTokens: 12, temperature: 1, seed: 42 };
    const a = await policy.generate(['ab', 'hello world'], 4, opts);
    const b = await policy.generate(['ab', 'hello world'], 4, opts);
    const c = await policy.generate(['ab', 'hello world'], 4, { ...opts, seed: 43 });
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    // The G completions of one prompt differ from each other.
    expect(new Set(a[1]?.map((x) => x.tokenIds.join())).size).toBeGreaterThan(1);
    policy.dispose();
  });

  it('sampling log-probs at temperature 1 equal tokenLogProbs of the same tokens', async () => {
    const policy = tinyPolicy({ ...TINY, nKvHeads: 2 });
    const prompts = ['a', 'xyz abc'];
    const out = await policy.generate(prompts, 3, { maxNewTokens: 10, temperature: 1, seed: 5 });
    const flat = out.flatMap((g, i) => g.map((c) => ({ p: policy.encodePrompt(prompts[i] as string), c })));
    const lp = tf.tidy(() => policy.tokenLogProbs({ prompts: flat.map((f) => f.p), completions: flat.map((f) => f.c.tokenIds) }).logprobs).arraySync();
    flat.forEach((f, r) => f.c.logprobs.forEach((x, j) => expect(Math.abs(x - (lp[r] as number[])[j]!)).toBeLessThan(1e-4)));
    policy.dispose();
  });
});

describe('stopping', () => {
  it('ends a sequence on EOS (kept as its last token) with finishReason eos', async () => {
    const policy = tinyPolicy();
    const free = await policy.generate(['abc'], 1, { maxNewTokens: 10, temperature: 0 });
    const tokens = free[0]?.[0]?.tokenIds as number[];
    expect(free[0]?.[0]?.finishReason).toBe('length');
    expect(tokens).toHaveLength(10);
    // A tokenizer whose EOS is the token greedy decoding emits third.
    const eos = tokens[2] as number;
    const base = policy.tokenizer;
    const tok: Tokenizer = {
      kind: base.kind,
      vocabSize: base.vocabSize,
      bosId: base.bosId,
      padId: base.padId,
      eosId: eos,
      encode: (t, o) => base.encode(t, o),
      decode: (ids, o) =>
        base.decode(
          ids.filter((i) => i !== eos),
          o,
        ),
      save: (d) => base.save(d),
    };
    const { generate } = await import('../src/generate.js');
    const out = await generate(policy.model, tok, ['abc'], 2, { maxNewTokens: 10, temperature: 0 });
    const first = tokens.indexOf(eos);
    for (const c of out[0] ?? []) {
      expect(c.finishReason).toBe('eos');
      expect(c.tokenIds).toEqual(tokens.slice(0, first + 1));
      expect(c.logprobs).toHaveLength(first + 1);
    }
    policy.dispose();
  });

  it('ends a sequence after the first stop string, per sequence', async () => {
    const policy = tinyPolicy();
    const opts = { maxNewTokens: 16, temperature: 1, seed: 9 };
    const free = await policy.generate(['hi there'], 6, opts);
    const texts = (free[0] ?? []).map((c) => c.text);
    const target = texts.find((t) => t.length >= 6) as string;
    expect(target).toBeDefined();
    const stop = target.slice(3, 5);
    const out = await policy.generate(['hi there'], 6, { ...opts, stop: [stop] });
    (out[0] ?? []).forEach((c, g) => {
      const original = free[0]?.[g];
      const at = (original?.text ?? '').indexOf(stop);
      if (at >= 0) {
        expect(c.finishReason).toBe('stop');
        expect(c.text).toBe(original?.text.slice(0, at + stop.length));
        expect(c.text.endsWith(stop)).toBe(true);
        expect(original?.tokenIds.slice(0, c.tokenIds.length)).toEqual(c.tokenIds);
      } else {
        expect(c).toEqual(original);
      }
    });
    expect((out[0] ?? []).some((c) => c.finishReason === 'stop')).toBe(true);
    policy.dispose();
  });

  it('stops at maxNewTokens and at maxSeqLen with finishReason length', async () => {
    const policy = tinyPolicy({ ...TINY, maxSeqLen: 12 });
    const out = await policy.generate(['ab', 'abcdefgh'], 1, { maxNewTokens: 6, temperature: 1, seed: 1 });
    // Prompt 'abcdefgh' is 9 tokens with BOS: only 3 fit into 12.
    const [short, long] = [out[0]?.[0], out[1]?.[0]];
    if (short?.finishReason === 'length') expect(short.tokenIds).toHaveLength(6);
    if (long?.finishReason === 'length') expect(long.tokenIds).toHaveLength(3);
    expect(long?.tokenIds.length).toBeLessThanOrEqual(3);
    await expect(policy.generate(['abcdefghijklmnop'], 1, { maxNewTokens: 2, temperature: 1 })).rejects.toThrow(/maxSeqLen/);
    await expect(policy.generate(['a'], 1, { maxNewTokens: 0, temperature: 1 })).rejects.toThrow(/maxNewTokens/);
    await expect(policy.generate(['a'], 1, { maxNewTokens: 2, temperature: -1 })).rejects.toThrow(/temperature/);
    await expect(policy.generate(['a'], 1, { maxNewTokens: 2, temperature: 1, topP: 0 })).rejects.toThrow(/topP/);
    await expect(policy.generate(['a'], 1, { maxNewTokens: 2, temperature: 1, topK: 1.5 })).rejects.toThrow(/topK/);
    policy.dispose();
  });
});
