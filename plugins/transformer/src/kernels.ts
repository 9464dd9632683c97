/**
 * Matrix products that stay on fast paths of the wasm backend.
 *
 * tfjs-backend-wasm 4.x runs a matmul through XNNPACK only when it is a plain 2-D product
 * (batch 1, no transpose flags); every batched or transposed product falls back to a naive
 * triple loop that is 8–15× slower. tfjs's own `MatMul` gradient uses transpose flags, so
 * backward passes also hit the slow loop. This module provides:
 *
 * - `bmm(a, b)`: `[N, M, K] × [N, K, P] → [N, M, P]` (or 2-D). On wasm it is a custom kernel
 *   (`GrpoXnnBatchMatMul`) that runs one XNNPACK product per batch item on zero-copy views of
 *   the operands (temporary tensor ids registered with the wasm module over slices of the
 *   inputs' memory; no data is copied). Its gradient transposes explicitly (a fast copy) and
 *   reuses the same kernel, so backward passes stay on XNNPACK too.
 * - On every other backend `bmm` is `tf.matMul` with tfjs's own gradient.
 *
 * The wasm kernel uses internals of tfjs-backend-wasm 4.22 (`dataIdMap`, `dataIdNextNumber`,
 * the exported `BatchMatMul` C function); when they are not there it falls back to `tf.matMul`.
 */
import * as tf from '@tensorflow/tfjs';

const KERNEL = 'GrpoXnnBatchMatMul';

interface WasmData {
  id: number;
  memoryOffset: number;
}
interface WasmModule {
  cwrap(name: string, ret: null, args: string[]): (...args: unknown[]) => void;
  tfjs: { registerTensor(id: number, size: number, offset: number): void; disposeData(id: number): void };
}
interface WasmBackendInternals {
  wasm: WasmModule;
  dataIdNextNumber: number;
  dataIdMap: { get(dataId: object): WasmData | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

type MatMulFn = (
  aId: number,
  aShape: Uint8Array,
  aRank: number,
  bId: number,
  bShape: Uint8Array,
  bRank: number,
  transposeA: boolean,
  transposeB: boolean,
  outId: number,
) => void;

const matMulFns = new WeakMap<object, MatMulFn>();

function isWasmInternals(backend: unknown): backend is WasmBackendInternals {
  const b = backend as Partial<WasmBackendInternals> | null;
  return (
    !!b &&
    typeof b.dataIdNextNumber === 'number' &&
    typeof b.makeOutput === 'function' &&
    typeof b.wasm?.cwrap === 'function' &&
    typeof b.wasm.tfjs?.registerTensor === 'function' &&
    typeof b.dataIdMap?.get === 'function'
  );
}

function shapeBytes(shape: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}

function xnnBatchMatMul(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const backend = args.backend;
  if (!isWasmInternals(backend)) throw new Error(`${KERNEL}: not a tfjs-backend-wasm 4.x backend`);
  const [n, m, k] = a.shape as [number, number, number];
  const [nb, kb, p] = b.shape as [number, number, number];
  if (n !== nb || k !== kb) throw new Error(`${KERNEL}: shapes ${a.shape} and ${b.shape} do not match`);
  let fn = matMulFns.get(backend.wasm);
  if (!fn) {
    fn = backend.wasm.cwrap('BatchMatMul', null, ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number']) as MatMulFn;
    matMulFns.set(backend.wasm, fn);
  }
  const out = backend.makeOutput([n, m, p], 'float32');
  const aData = backend.dataIdMap.get(a.dataId);
  const bData = backend.dataIdMap.get(b.dataId);
  const oData = backend.dataIdMap.get(out.dataId);
  if (!aData || !bData || !oData) throw new Error(`${KERNEL}: tensor data not found`);
  if (n === 1) {
    fn(aData.id, shapeBytes([1, m, k]), 3, bData.id, shapeBytes([1, k, p]), 3, false, false, oData.id);
    return out;
  }
  const aBytes = shapeBytes([1, m, k]);
  const bBytes = shapeBytes([1, k, p]);
  const reg = backend.wasm.tfjs;
  for (let i = 0; i < n; i++) {
    const aId = backend.dataIdNextNumber++;
    const bId = backend.dataIdNextNumber++;
    const oId = backend.dataIdNextNumber++;
    reg.registerTensor(aId, m * k, aData.memoryOffset + 4 * i * m * k);
    reg.registerTensor(bId, k * p, bData.memoryOffset + 4 * i * k * p);
    reg.registerTensor(oId, m * p, oData.memoryOffset + 4 * i * m * p);
    fn(aId, aBytes, 3, bId, bBytes, 3, false, false, oId);
    // Unregisters the views (and the XNNPACK operator cached on `bId`); frees no memory.
    reg.disposeData(aId);
    reg.disposeData(bId);
    reg.disposeData(oId);
  }
  return out;
}

const GATHER_ROWS = 'GrpoGatherRows';

/** Rows `indices` of `x` along axis 0, as block copies on the wasm heap (wasm's `GatherV2` copies element by element). */
function gatherRowsKernel(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const indices = (args.attrs as { indices: number[] }).indices;
  const backend = args.backend as WasmBackendInternals & { typedArrayFromHeap(t: tf.TensorInfo): Float32Array };
  const row = x.shape.slice(1).reduce((a, b) => a * b, 1);
  const out = backend.makeOutput([indices.length, ...x.shape.slice(1)], 'float32');
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  indices.forEach((r, i) => dst.set(src.subarray(r * row, (r + 1) * row), i * row));
  return out;
}

/** `tf.gather(x, indices, 0)` for float32 tensors, without a gradient (used by generation). */
export function gatherRows<T extends tf.Tensor>(x: T, indices: readonly number[]): T {
  if (!useFastPath() || x.dtype !== 'float32') return tf.tidy(() => tf.gather(x, tf.tensor1d(indices as number[], 'int32'))) as T;
  return tf.engine().runKernel(GATHER_ROWS, { x }, { indices: [...indices] }) as T;
}

/**
 * wasm's `Identity` copies its input. tfjs runs it whenever it saves a tensor for the backward
 * pass (`engine.clone`), so a recorded forward pass copied every weight and activation a gradient
 * reads: at SmolLM2-135M's shape the copies of one LoRA step went past wasm's 4 GB heap.
 * Tensors are immutable, so a new reference to the same data is equivalent (what the cpu
 * backend and @grpo/plugin-backend-native do): same values, no copy.
 */
function shareIdentity(): void {
  const wasm = tf.getKernel('Identity', 'wasm');
  if (!wasm) return;
  const copy = wasm.kernelFunc;
  const share = ((args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const backend = args.backend as { incRef?(dataId: object): void };
    if (x.dtype === 'string' || typeof backend.incRef !== 'function') return copy(args as Parameters<tf.KernelFunc>[0]);
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  }) as tf.KernelFunc;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({ ...wasm, kernelFunc: share });
}

let registered = false;
function register(): void {
  if (registered) return;
  registered = true;
  shareIdentity();
  tf.registerKernel({ kernelName: GATHER_ROWS, backendName: 'wasm', kernelFunc: gatherRowsKernel as tf.KernelFunc });
  tf.registerKernel({ kernelName: KERNEL, backendName: 'wasm', kernelFunc: xnnBatchMatMul as tf.KernelFunc });
  tf.registerGradient({
    kernelName: KERNEL,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved) => {
      const [a, b] = saved as [tf.Tensor3D, tf.Tensor3D];
      const g = dy as tf.Tensor3D;
      return {
        a: () => runXnn(g, tf.transpose(b, [0, 2, 1])),
        b: () => runXnn(tf.transpose(a, [0, 2, 1]), g),
      };
    },
  });
}

function runXnn(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  return tf.engine().runKernel(KERNEL, { a, b }, {}) as tf.Tensor3D;
}

let fastPath: boolean | undefined;
let fastPathBackend: string | undefined;
function useFastPath(): boolean {
  const name = tf.getBackend();
  if (fastPathBackend !== name) {
    fastPathBackend = name;
    fastPath = name === 'wasm' && isWasmInternals(tf.engine().backend);
    if (fastPath) register();
  }
  return fastPath === true;
}

/** `a × b` for rank-3 `[N, M, K] × [N, K, P]` or rank-2 operands, on fast paths (see module doc). */
export function bmm<T extends tf.Tensor2D | tf.Tensor3D>(a: T, b: T): T {
  if (!useFastPath()) return tf.matMul(a, b) as T;
  if (a.rank === 2) {
    const out = runXnn(a.expandDims(0) as tf.Tensor3D, b.expandDims(0) as tf.Tensor3D);
    return out.reshape([a.shape[0], b.shape[1] as number]) as T;
  }
  return runXnn(a as tf.Tensor3D, b as tf.Tensor3D) as T;
}

/** `a × b` for a rank-2 product; see `bmm`. */
export function mm(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return bmm(a, b);
}

/**
 * `a × bᵀ` for `a` `[M, K]`, `b` `[P, K]` (a tied output embedding). On the wasm fast path an
 * explicit transpose and `mm` (XNNPACK's product has no transposed form); on other backends
 * `tf.matMul` with `transposeB`, whose kernel (sgemm's flag on @grpo/plugin-backend-native) and
 * gradient read `b` in place instead of a `[K, P]` copy per forward pass (545 MiB for
 * Qwen2.5-0.5B's embedding).
 */
export function mmTransposedB(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  if (useFastPath()) return mm(a, b.transpose());
  return tf.matMul(a, b, false, true);
}

/**
 * Decoding attention with a preallocated KV cache, when the active backend provides it as the
 * kernel `GrpoDecodeAttention` (@grpo/plugin-backend-native does). Inputs: `q` `[n, H, hd]`
 * (rotary embedding and 1/√hd applied); `promptK`/`promptV` `[P, Hkv, Pmax, hd]`: the prefill's
 * keys and values of each distinct prompt, stored once for all its samples; `genK`/`genV`
 * `[n, Hkv, cap, hd]`: those of the generated tokens, per sequence; `kNew`/`vNew` `[n, Hkv, hd]`;
 * `pads` and `rowPrompt` int32 `[n]`: each row's left padding and prompt. Attribute `length`: L,
 * the positions before this step (Pmax ≤ L < Pmax + cap). The kernel writes `kNew`/`vNew` at
 * `genK[:, :, L − Pmax]` in place (so the caches must be owned by the caller alone) and returns
 * `[n, H·hd]`: for each row and head, softmax over positions `pads[r]..L` of q·k, times v, where
 * position l < Pmax is the prompt's and l ≥ Pmax the row's own. Query head h reads kv head
 * `h / (H / Hkv)`.
 */
export const DECODE_ATTENTION = 'GrpoDecodeAttention';

/**
 * Rotary embedding in one pass, when the active backend provides the kernel `GrpoRope`
 * (@grpo/plugin-backend-native does): `x` `[B, H, T, hd]`, `cos`/`sin` `[1 or B, 1, T, hd]`,
 * returns `x·cos + rotate_half(x)·sin` with rotate_half(x) = `[−x₂, x₁]`; with the attribute
 * `backward`, the gradient with respect to x of that for an upstream gradient passed as `x`.
 */
export const ROPE = 'GrpoRope';

/** Whether the active backend has the `GrpoRope` kernel (see `ROPE`). */
export function hasRope(): boolean {
  return tf.getKernel(ROPE, tf.getBackend()) !== undefined;
}

/** See `ROPE`; only call it when `hasRope()`. Differentiable in `x` (the tables are constants). */
export function ropeKernel(x: tf.Tensor4D, cos: tf.Tensor4D, sin: tf.Tensor4D): tf.Tensor4D {
  const run = (input: tf.Tensor, tables: tf.Tensor[], backward: boolean) =>
    tf.engine().runKernel(ROPE, { x: input, cos: tables[0]!, sin: tables[1]! }, { backward }) as tf.Tensor4D;
  const f = (input: tf.Tensor | tf.GradSaveFunc, save: tf.Tensor | tf.GradSaveFunc) => {
    // Saved (kept) for the backward pass, like the inputs of tfjs's own ops.
    (save as tf.GradSaveFunc)([cos, sin]);
    return { value: run(input as tf.Tensor, [cos, sin], false), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => run(dy, saved, true) };
  };
  return tf.customGrad(f)(x) as tf.Tensor4D;
}

/**
 * SwiGLU's product `(gate·σ(gate))·up` in one pass, when the active backend provides the kernels
 * `GrpoSwiGlu` and `GrpoSwiGluGrad` (@grpo/plugin-backend-native does): `gate`, `up` of one shape.
 */
export const SWIGLU = 'GrpoSwiGlu';
export const SWIGLU_GRAD = 'GrpoSwiGluGrad';

/** Whether the active backend has the SwiGLU kernels (see `SWIGLU`). */
export function hasSwiGlu(): boolean {
  const backend = tf.getBackend();
  return tf.getKernel(SWIGLU, backend) !== undefined && tf.getKernel(SWIGLU_GRAD, backend) !== undefined;
}

/** See `SWIGLU`; only call it when `hasSwiGlu()`. Differentiable in both inputs. */
export function swiGluKernel<T extends tf.Tensor>(gate: T, up: T): T {
  const f = (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [g, u, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([g, u]);
    return {
      value: tf.engine().runKernel(SWIGLU, { gate: g, up: u }) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.engine().runKernel(SWIGLU_GRAD, { gate: saved[0]!, up: saved[1]!, dy }) as unknown as tf.Tensor[],
    };
  };
  return tf.customGrad(f)(gate, up) as T;
}

/** Whether the active backend has the `GrpoDecodeAttention` kernel (see `decodeAttention`). */
export function hasDecodeAttention(): boolean {
  return tf.getKernel(DECODE_ATTENTION, tf.getBackend()) !== undefined;
}

/** The inputs of `GrpoDecodeAttention` besides the query and the new keys and values. */
export interface DecodeCache {
  promptK: tf.Tensor4D;
  promptV: tf.Tensor4D;
  genK: tf.Tensor4D;
  genV: tf.Tensor4D;
  pads: tf.Tensor1D;
  rowPrompt: tf.Tensor1D;
  length: number;
}

/** See `DECODE_ATTENTION`; only call it when `hasDecodeAttention()`. */
export function decodeAttention(q: tf.Tensor3D, kNew: tf.Tensor3D, vNew: tf.Tensor3D, c: DecodeCache): tf.Tensor2D {
  const inputs = { q, promptK: c.promptK, promptV: c.promptV, genK: c.genK, genV: c.genV, kNew, vNew, pads: c.pads, rowPrompt: c.rowPrompt };
  return tf.engine().runKernel(DECODE_ATTENTION, inputs, { length: c.length }) as tf.Tensor2D;
}
