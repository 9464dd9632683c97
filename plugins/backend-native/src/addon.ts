/**
 * Loads the N-API addon (`build/Release/grpo_native.node`, built by node-gyp against OpenBLAS
 * when the package is installed) and says in plain words why it cannot be loaded.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The addon's functions. Offsets are byte offsets into `heap` (the wasm memory's buffer). */
export interface NativeAddon {
  /**
   * `C[i] = op(A[i])·op(B[i])` for `i < batch`, row-major: `op(A)` `[M, K]`, `op(B)` `[K, N]`,
   * `C` `[batch, M, N]` contiguous. Strides are in elements; 0 uses one matrix for every `i`.
   */
  gemm(
    heap: ArrayBufferLike,
    batch: number,
    M: number,
    N: number,
    K: number,
    transA: number,
    transB: number,
    aOffset: number,
    aStride: number,
    bOffset: number,
    bStride: number,
    cOffset: number,
  ): void;
  /**
   * Element-wise `out = a op b` (op: 0 add, 1 sub, 2 mul, 3 div, 4 squared difference, 5 max,
   * 6 min) over `layout`: `[rank, ...outShape, ...aStrides, ...bStrides]` (strides in elements, 0
   * where broadcast).
   */
  binary(heap: ArrayBufferLike, op: number, layout: Float64Array, aOffset: number, bOffset: number, outOffset: number): void;
  /** Element-wise `out = f(x)` over `n` elements (op: see `UNARY` in backend.ts). */
  unary(heap: ArrayBufferLike, op: number, n: number, xOffset: number, outOffset: number): void;
  /** Softmax over the last axis of `[rows, n]`. */
  softmax(heap: ArrayBufferLike, rows: number, n: number, xOffset: number, outOffset: number): void;
  /** `out = x` read with strides: `layout` is `[rank, ...outShape, ...xStrides]`. */
  transpose(heap: ArrayBufferLike, layout: Float64Array, xOffset: number, outOffset: number): void;
  /**
   * One decoding step of attention (the kernel `GrpoDecodeAttention`, see backend.ts): `shape` is
   * `[n, H, Hkv, P, Pmax, cap, hd, L]`, `offsets` the byte offsets of `[q, promptK, promptV, genK,
   * genV, kNew, vNew, pads, rowPrompt, out]`.
   */
  decodeAttention(heap: ArrayBufferLike, shape: Float64Array, offsets: Float64Array): void;
  /**
   * The rotary embedding (the kernel `GrpoRope`, see backend.ts) or its gradient: `shape` is
   * `[B, H, T, hd, R, backward]`, `offsets` the byte offsets of `[x, cos, sin, out]`.
   */
  rope(heap: ArrayBufferLike, shape: Float64Array, offsets: Float64Array): void;
  /**
   * SwiGLU over `n` elements (the kernels `GrpoSwiGlu` and `GrpoSwiGluGrad`, see backend.ts):
   * `offsets` `[g, u, out]` for `out = (g·σ(g))·u`, or `[g, u, dy, dg, du]` for its gradient.
   */
  swiGlu(heap: ArrayBufferLike, n: number, offsets: Float64Array): void;
  /** Threads of the addon's pool (the caller included). */
  setThreads(threads: number): void;
  /** Work (multiply-adds or elements) below which a kernel runs on one thread. */
  setParallelThreshold(work: number): void;
  info(): { threads: number; blas: string; core: string; parallelThreshold: number };
}

/** The package's root (this file is in `src/` or, built, in `dist/`). */
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Where node-gyp puts the addon. */
export const addonPath = join(packageRoot, 'build', 'Release', 'grpo_native.node');
/** Written by the install script when the build fails. */
export const buildLogPath = join(packageRoot, 'build', 'build-error.log');

let loaded: { addon?: NativeAddon; error?: string } | undefined;

/** The addon, or why it cannot be loaded. Loaded once per process. */
export function loadAddon(): { addon?: NativeAddon; error?: string } {
  if (loaded) return loaded;
  if (process.env.GRPO_NATIVE_DISABLE) {
    loaded = { error: 'it is disabled by the environment variable GRPO_NATIVE_DISABLE' };
    return loaded;
  }
  if (!existsSync(addonPath)) {
    let why = 'its addon was not built';
    if (existsSync(buildLogPath)) {
      const log = readFileSync(buildLogPath, 'utf8').trim().split('\n');
      why += ` (the build failed at install time: ${log.find((l) => /error|not found|cannot/i.test(l))?.trim() ?? log.at(-1)}; see ${buildLogPath})`;
    }
    loaded = { error: why };
    return loaded;
  }
  try {
    const addon = createRequire(import.meta.url)(addonPath) as NativeAddon;
    loaded = { addon };
  } catch (error) {
    loaded = { error: `its addon could not be loaded: ${(error as Error).message}` };
  }
  return loaded;
}
