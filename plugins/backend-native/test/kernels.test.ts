/**
 * The native kernels against independent float64 references computed here in plain JavaScript
 * (products, element-wise ops with broadcasting, softmax, transposes, gathers), and the decoding
 * attention against the model's own path without it. Skipped, with the reason printed, where the
 * addon is not built.
 */
import { TensorBackend, assembleContainer, resolveConfig, selectNamed } from '@grpo/core';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { createPolicy } from '@grpo/plugin-transformer';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import backendNative, { NativeBackend, nativeAddon, nativeInfo, nativeUnavailableReason, setupBackend } from '../src/index.js';

const reason = nativeUnavailableReason();
if (reason) console.log(`[backend-native] skipping the kernel tests: ${reason}`);

/** Deterministic values in [-1, 1) (a linear congruential generator). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** `op(A[i])·op(B[i])` in float64 for row-major batches (a batch of 1 is broadcast). */
function matMul64(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], ta: boolean, tb: boolean): { data: Float64Array; shape: number[] } {
  const [ab, ar, ac] = aShape as [number, number, number];
  const [bb, br, bc] = bShape as [number, number, number];
  const M = ta ? ac : ar;
  const K = ta ? ar : ac;
  const N = tb ? br : bc;
  const batch = Math.max(ab, bb);
  const out = new Float64Array(batch * M * N);
  for (let i = 0; i < batch; i++) {
    const ao = (ab === 1 ? 0 : i) * ar * ac;
    const bo = (bb === 1 ? 0 : i) * br * bc;
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const x = a[ao + (ta ? k * ac + m : m * ac + k)] as number;
          const y = b[bo + (tb ? n * bc + k : k * bc + n)] as number;
          s += x * y;
        }
        out[(i * M + m) * N + n] = s;
      }
  }
  return { data: out, shape: [batch, M, N] };
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as number;
    const a = actual[i] as number;
    const err = Number.isNaN(e) ? (Number.isNaN(a) ? 0 : Infinity) : e === a ? 0 : Math.abs(a - e) / Math.max(1, Math.abs(e));
    if (!(err <= worst)) [worst, at] = [err, i];
  }
  expect(worst, `${what}: worst error ${worst} at ${at}`).toBeLessThanOrEqual(tol);
}

describe.skipIf(reason !== undefined)('@grpo/plugin-backend-native kernels', () => {
  beforeAll(async () => {
    await setupBackend('native', { fallback: false });
  });

  it('runs on the native backend with OpenBLAS', () => {
    expect(tf.getBackend()).toBe('native');
    const info = nativeInfo();
    expect(info?.threads).toBeGreaterThanOrEqual(1);
    expect(info?.blas).toMatch(/OpenBLAS/);
  });

  // Shapes on every path of the addon: tiny products (its own loops), BLAS calls on one thread,
  // batches split over threads, one product split by rows or by columns; transposes; a batch of
  // one broadcast against many.
  const cases: [string, number[], number[], boolean, boolean][] = [
    ['tiny', [1, 3, 5], [1, 5, 2], false, false],
    ['decode-like q·kᵀ', [16, 1, 32], [16, 9, 32], false, true],
    ['decode-like p·v', [16, 1, 9], [16, 9, 32], false, false],
    ['rows split', [1, 300, 64], [1, 64, 48], false, false],
    ['columns split', [1, 16, 64], [1, 64, 400], false, false],
    ['Aᵀ·B (weight gradient)', [1, 200, 40], [1, 200, 24], true, false],
    ['A·Bᵀ (input gradient)', [1, 130, 24], [1, 40, 24], false, true],
    ['Aᵀ·Bᵀ', [1, 33, 70], [1, 50, 33], true, true],
    ['batch over threads', [12, 20, 17], [12, 17, 30], false, false],
    ['batch broadcast (B)', [6, 20, 17], [1, 17, 30], false, false],
    ['batch broadcast (A)', [1, 20, 17], [6, 30, 17], false, true],
  ];
  for (const [name, aShape, bShape, ta, tb] of cases) {
    it(`matMul ${name}: ${aShape} × ${bShape}${ta ? ' (transposeA)' : ''}${tb ? ' (transposeB)' : ''} matches float64`, () => {
      const a = values(
        aShape.reduce((x, y) => x * y, 1),
        1 + aShape[1]!,
      );
      const b = values(
        bShape.reduce((x, y) => x * y, 1),
        7 + bShape[2]!,
      );
      const ref = matMul64(a, aShape, b, bShape, ta, tb);
      const before = tf.memory().numTensors;
      const out = tf.tidy(() => tf.matMul(tf.tensor3d(a, aShape as [number, number, number]), tf.tensor3d(b, bShape as [number, number, number]), ta, tb));
      expect(out.shape).toEqual(ref.shape);
      const K = ta ? aShape[1]! : aShape[2]!;
      expectClose(out.dataSync(), ref.data, 2e-6 * Math.sqrt(K), name);
      out.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('matMul of rank 2 and rank 4, and its gradient (transposed products), match float64', () => {
    const a = values(5 * 7, 3);
    const b = values(7 * 4, 4);
    const product = tf.tidy(() => tf.matMul(tf.tensor2d(a, [5, 7]), tf.tensor2d(b, [7, 4])).dataSync());
    expectClose(product, matMul64(a, [1, 5, 7], b, [1, 7, 4], false, false).data, 1e-6, 'rank 2');
    const a4 = values(2 * 3 * 4 * 5, 5);
    const b4 = values(2 * 3 * 5 * 6, 6);
    const p4 = tf.tidy(() => tf.matMul(tf.tensor4d(a4, [2, 3, 4, 5]), tf.tensor4d(b4, [2, 3, 5, 6])));
    expect(p4.shape).toEqual([2, 3, 4, 6]);
    expectClose(p4.dataSync(), matMul64(a4, [6, 4, 5], b4, [6, 5, 6], false, false).data, 1e-6, 'rank 4');
    p4.dispose();
    // d/dA Σ (A·B) = 1·Bᵀ: every row of the gradient is the row sums of B.
    const grad = tf.tidy(() =>
      tf
        .grad((x: tf.Tensor) => tf.sum(tf.matMul(x as tf.Tensor2D, tf.tensor2d(b, [7, 4]))))(tf.tensor2d(a, [5, 7]))
        .dataSync(),
    );
    const rowSums = Array.from({ length: 7 }, (_, k) => [0, 1, 2, 3].reduce((s, n) => s + (b[k * 4 + n] as number), 0));
    expectClose(grad, Array.from({ length: 5 }, () => rowSums).flat(), 1e-6, 'gradient');
  });

  it('fused matMul with bias and activation matches the unfused ops', () => {
    const a = tf.tensor2d(values(6 * 5, 8), [6, 5]);
    const b = tf.tensor2d(values(5 * 3, 9), [5, 3]);
    const bias = tf.tensor1d([0.1, -0.2, 0.3]);
    const fused = tf.fused.matMul({ a, b, bias, activation: 'relu' }).dataSync();
    const plain = tf.tidy(() => tf.relu(tf.add(tf.matMul(a, b), bias)).dataSync());
    expectClose(fused, plain, 1e-6, 'fused');
    tf.dispose([a, b, bias]);
  });

  it('element-wise ops with broadcasting match float64', () => {
    const shapes: [number[], number[]][] = [
      [
        [4, 6],
        [4, 6],
      ],
      [[4, 6], [6]],
      [
        [4, 6],
        [4, 1],
      ],
      [
        [2, 3, 5, 4],
        [1, 1, 5, 4],
      ],
      [
        [3, 1, 4],
        [1, 5, 1],
      ],
      [[700, 300], []],
    ];
    const ops: [string, (x: tf.Tensor, y: tf.Tensor) => tf.Tensor, (x: number, y: number) => number][] = [
      ['add', tf.add, (x, y) => x + y],
      ['sub', tf.sub, (x, y) => x - y],
      ['mul', tf.mul, (x, y) => x * y],
      ['div', tf.div, (x, y) => x / (y + 2)],
      ['squaredDifference', tf.squaredDifference, (x, y) => (x - y) ** 2],
      ['maximum', tf.maximum, Math.max],
      ['minimum', tf.minimum, Math.min],
    ];
    for (const [as, bs] of shapes)
      for (const [name, f, ref] of ops) {
        const av = values(
          as.reduce((x, y) => x * y, 1),
          as.length + 11,
        );
        const bv = values(
          bs.reduce((x, y) => x * y, 1),
          bs.length + 13,
        );
        const out = tf.tidy(() => {
          const bt = tf.tensor(bv, bs);
          return f(tf.tensor(av, as), name === 'div' ? tf.add(bt, 2) : bt);
        });
        // The reference: broadcast by hand.
        const shape = out.shape;
        const index = (s: number[], at: number[]) => {
          const lead = shape.length - s.length;
          return s.reduce((o, n, d) => o * n + (n === 1 ? 0 : (at[d + lead] as number)), 0);
        };
        const expected = Array.from({ length: out.size }, (_, i) => {
          const at: number[] = [];
          let rem = i;
          for (let d = shape.length - 1; d >= 0; d--) {
            at[d] = rem % (shape[d] as number);
            rem = Math.floor(rem / (shape[d] as number));
          }
          return ref(av[index(as, at)] as number, bv[index(bs, at)] as number);
        });
        expectClose(out.dataSync(), expected, 1e-6, `${name} [${as}]·[${bs}]`);
        out.dispose();
      }
  });

  it('unary ops, softmax and transposes match float64', () => {
    const x = values(3000, 21).map((v) => v * 30);
    const unary: [string, (t: tf.Tensor) => tf.Tensor, (v: number) => number, number[]][] = [
      ['exp', tf.exp, Math.exp, Array.from(x)],
      ['sigmoid', tf.sigmoid, (v) => 1 / (1 + Math.exp(-v)), Array.from(x)],
      ['square', tf.square, (v) => v * v, Array.from(x)],
      ['neg', tf.neg, (v) => -v, Array.from(x)],
      ['rsqrt', tf.rsqrt, (v) => 1 / Math.sqrt(v), Array.from(x, Math.abs)],
      ['sqrt', tf.sqrt, Math.sqrt, Array.from(x, Math.abs)],
      ['log', tf.log, Math.log, Array.from(x, (v) => Math.abs(v) + 1e-3)],
      ['relu', tf.relu, (v) => Math.max(0, v), Array.from(x)],
      ['tanh', tf.tanh, Math.tanh, Array.from(x)],
      ['reciprocal', tf.reciprocal, (v) => 1 / v, Array.from(x, (v) => v + 40)],
      ['abs', tf.abs, Math.abs, Array.from(x)],
    ];
    for (const [name, f, ref, input] of unary) {
      const out = tf.tidy(() => f(tf.tensor1d(input)).dataSync());
      // Relative to the value itself (exp spans many orders of magnitude).
      const rel = Array.from(out, (v, i) => {
        const e = ref(Math.fround(input[i] as number));
        return e === 0 ? Math.abs(v) : Math.abs(v - e) / Math.abs(e);
      });
      expect(Math.max(...rel), name).toBeLessThanOrEqual(1e-6);
    }
    expect(Array.from(tf.tidy(() => tf.exp(tf.tensor1d([-1e9, -Infinity, Infinity, NaN, 89])).dataSync()))).toEqual([0, 0, Infinity, NaN, Infinity]);

    const logits = values(37 * 129, 22).map((v) => v * 8);
    const soft = tf.tidy(() => tf.softmax(tf.tensor2d(logits, [37, 129])).dataSync());
    const expected: number[] = [];
    for (let r = 0; r < 37; r++) {
      const row = Array.from(logits.subarray(r * 129, (r + 1) * 129));
      const m = Math.max(...row);
      const e = row.map((v) => Math.exp(v - m));
      const s = e.reduce((a, b) => a + b, 0);
      expected.push(...e.map((v) => v / s));
    }
    expectClose(soft, expected, 1e-6, 'softmax');

    const t = values(2 * 3 * 4 * 5, 23);
    for (const perm of [
      [0, 2, 1, 3],
      [3, 2, 1, 0],
      [1, 0, 2, 3],
      [0, 1, 3, 2],
    ]) {
      const out = tf.tidy(() => tf.transpose(tf.tensor4d(t, [2, 3, 4, 5]), perm));
      const shape = perm.map((p) => [2, 3, 4, 5][p] as number);
      expect(out.shape).toEqual(shape);
      const got = out.dataSync();
      out.dispose();
      const strides = [60, 20, 5, 1];
      const ref = Array.from({ length: 120 }, (_, i) => {
        let rem = i;
        let src = 0;
        for (let d = 3; d >= 0; d--) {
          const c = rem % (shape[d] as number);
          rem = Math.floor(rem / (shape[d] as number));
          src += c * (strides[perm[d] as number] as number);
        }
        return t[src] as number;
      });
      expect(Array.from(got), `transpose ${perm}`).toEqual(ref);
    }
  });

  it('gathers rows, shares data for identity and same-type casts, and leaks nothing', () => {
    const before = tf.memory().numTensors;
    const g = tf.tidy(() =>
      tf
        .gather(
          tf.tensor2d([
            [1, 2],
            [3, 4],
            [5, 6],
          ]),
          tf.tensor1d([2, 0, 2], 'int32'),
        )
        .arraySync(),
    );
    expect(g).toEqual([
      [5, 6],
      [1, 2],
      [5, 6],
    ]);
    const x = tf.tensor1d([1, 2, 3]);
    const y = tf.clone(x);
    const z = tf.cast(x, 'float32');
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3]);
    y.dispose();
    expect(Array.from(z.dataSync())).toEqual([1, 2, 3]);
    z.dispose();
    expect(tf.tidy(() => Array.from(tf.cast(tf.tensor1d([1.7, -2.2]), 'int32').dataSync()))).toEqual([1, -2]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('applies rotary embeddings (GrpoRope) like float64 and bit for bit like the permutation product, forward and gradient', () => {
    const rope = (x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor, backward: boolean) =>
      tf.engine().runKernel('GrpoRope', { x, cos, sin }, { backward }) as tf.Tensor;
    const bits = (t: tf.Tensor) => Array.from(new Uint32Array(new Float32Array(t.dataSync()).buffer));
    const before = tf.memory().numTensors;
    for (const [B, H, T, hd, R] of [
      [3, 2, 5, 8, 1],
      [3, 2, 5, 8, 3],
      [4, 3, 1, 32, 4],
    ] as const) {
      const x = values(B * H * T * hd, 11 + T);
      const cos = values(R * T * hd, 12 + T);
      const sin = values(R * T * hd, 13 + T);
      const dy = values(B * H * T * hd, 14 + T);
      // float64: out[j] = x[j]·c[j] − x[j+h]·s[j], out[j+h] = x[j+h]·c[j+h] + x[j]·s[j+h]; the gradient is its transpose.
      const h = hd / 2;
      const forward64 = new Float64Array(x.length);
      const backward64 = new Float64Array(x.length);
      for (let q = 0; q < B * H * T; q++) {
        const tb = ((R === 1 ? 0 : Math.floor(q / (H * T))) * T + (q % T)) * hd;
        for (let j = 0; j < h; j++) {
          const [x1, x2, g1, g2] = [x[q * hd + j]!, x[q * hd + j + h]!, dy[q * hd + j]!, dy[q * hd + j + h]!];
          const [c1, c2, s1, s2] = [cos[tb + j]!, cos[tb + j + h]!, sin[tb + j]!, sin[tb + j + h]!];
          forward64[q * hd + j] = x1 * c1 - x2 * s1;
          forward64[q * hd + j + h] = x2 * c2 + x1 * s2;
          backward64[q * hd + j] = g1 * c1 + g2 * s2;
          backward64[q * hd + j + h] = g2 * c2 - g1 * s1;
        }
      }
      tf.tidy(() => {
        const xt = tf.tensor4d(x, [B, H, T, hd]);
        const ct = tf.tensor4d(cos, [R, 1, T, hd]);
        const st = tf.tensor4d(sin, [R, 1, T, hd]);
        const dyt = tf.tensor4d(dy, [B, H, T, hd]);
        const out = rope(xt, ct, st, false);
        const grad = rope(dyt, ct, st, true);
        expectClose(out.dataSync(), forward64, 1e-6, `rope [${B},${H},${T},${hd}] R ${R}`);
        expectClose(grad.dataSync(), backward64, 1e-6, `rope gradient [${B},${H},${T},${hd}] R ${R}`);
        // The composed path the transformer takes without the kernel: x·cos + (x·P)·sin, P the signed permutation.
        const p = new Float32Array(hd * hd);
        for (let j = 0; j < h; j++) [p[(j + h) * hd + j], p[j * hd + j + h]] = [-1, 1];
        const perm = tf.tensor2d(p, [hd, hd]);
        const composed = (y: tf.Tensor) => tf.add(tf.mul(y, ct), tf.mul(tf.matMul(y.reshape([-1, hd]) as tf.Tensor2D, perm).reshape([B, H, T, hd]), st));
        expect(bits(out)).toEqual(bits(composed(xt)));
        expect(bits(grad)).toEqual(bits(tf.grad((y: tf.Tensor) => tf.sum(tf.mul(composed(y), dyt)))(xt)));
      });
    }
    expect(() => tf.tidy(() => rope(tf.zeros([2, 1, 3, 4]), tf.zeros([3, 1, 3, 4]), tf.zeros([3, 1, 3, 4]), false))).toThrow(/GrpoRope: expected/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('computes SwiGLU (GrpoSwiGlu, GrpoSwiGluGrad) like float64 and bit for bit like the composed ops, forward and gradient', () => {
    const bits = (t: tf.Tensor) => Array.from(new Uint32Array(new Float32Array(t.dataSync()).buffer));
    const before = tf.memory().numTensors;
    // 1,037 elements: the Sigmoid kernel's vector and scalar paths both run; 300,003 also splits over the threads.
    for (const n of [1037, 300_003]) {
      const g = values(n, 21).map((v) => v * 8);
      const u = values(n, 22);
      const dy = values(n, 23);
      const sig = (v: number) => 1 / (1 + Math.exp(-v));
      tf.tidy(() => {
        const [gt, ut, dyt] = [g, u, dy].map((v) => tf.tensor2d(v, [1, n]));
        const out = tf.engine().runKernel('GrpoSwiGlu', { gate: gt!, up: ut! }) as tf.Tensor;
        const [dg, du] = tf.engine().runKernel('GrpoSwiGluGrad', { gate: gt!, up: ut!, dy: dyt! }) as unknown as tf.Tensor[];
        // float64: d/dg of g·σ(g)·u is u·(σ + g·σ·(1 − σ)).
        expectClose(
          out.dataSync(),
          Array.from(g, (v, i) => v * sig(v) * u[i]!),
          1e-5,
          `swiGlu n=${n}`,
        );
        expectClose(
          dg!.dataSync(),
          Array.from(g, (v, i) => dy[i]! * u[i]! * (sig(v) + v * sig(v) * (1 - sig(v)))),
          1e-5,
          `swiGlu gradient (gate) n=${n}`,
        );
        expectClose(
          du!.dataSync(),
          Array.from(g, (v, i) => dy[i]! * v * sig(v)),
          1e-5,
          `swiGlu gradient (up) n=${n}`,
        );
        // The ops the transformer composes without the kernels, and tfjs's gradients of them.
        const composed = (a: tf.Tensor, b: tf.Tensor) => tf.mul(tf.mul(a, tf.sigmoid(a)), b);
        expect(bits(out)).toEqual(bits(composed(gt!, ut!)));
        const [cg, cu] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(composed(a, b), dyt!)))([gt!, ut!]);
        expect(bits(dg!)).toEqual(bits(cg!));
        expect(bits(du!)).toEqual(bits(cu!));
      });
    }
    expect(() => tf.tidy(() => tf.engine().runKernel('GrpoSwiGlu', { gate: tf.zeros([2, 3]), up: tf.zeros([3, 2]) }))).toThrow(/GrpoSwiGlu: expected/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('decodes with the shared-prompt cache exactly like recomputing every prefix', async () => {
    const tokenizer = CharTokenizer.fromChars('abcdefgh'.split(''));
    const policy = createPolicy({ model: { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, maxSeqLen: 40 }, tokenizer, seed: 3 });
    const prompts = ['abc', 'h', 'gfedcba', 'bb'];
    const options = { maxNewTokens: 12, temperature: 1, seed: 9 };
    const before = tf.memory().numTensors;
    const cached = await policy.generate(prompts, 3, options);
    expect(tf.memory().numTensors).toBe(before);
    const recomputed = await policy.generateNoCache(prompts, 3, options);
    expect(cached.map((g) => g.map((c) => c.tokenIds))).toEqual(recomputed.map((g) => g.map((c) => c.tokenIds)));
    expectClose(
      cached.flat().flatMap((c) => c.logprobs),
      recomputed.flat().flatMap((c) => c.logprobs),
      1e-4,
      'log-probs',
    );
    policy.dispose();
  });

  it('binds a TensorBackend named native that the trainer can select', async () => {
    const plugin = backendNative({ threads: 2 });
    const config = await resolveConfig({ backend: 'native', plugins: [plugin] }, { source: 'test' });
    const container = await assembleContainer(config);
    const backend = selectNamed<TensorBackend>(container, TensorBackend, config.backend, 'backend');
    expect(backend).toBeInstanceOf(NativeBackend);
    await tf.setBackend('cpu');
    await backend.setup();
    expect(tf.getBackend()).toBe('native');
    expect(nativeInfo()?.threads).toBe(2);
    nativeAddon()?.setThreads(nativeInfo()?.threads ?? 1);
  });
});
