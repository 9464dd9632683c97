/**
 * The `native` tfjs backend: an instance of tfjs-backend-wasm whose hot kernels run in the
 * N-API addon on the wasm heap itself.
 *
 * Tensor data lives in the wasm module's memory exactly as on `wasm` (every wasm kernel is
 * registered again under the name `native` and works unchanged); the kernels below replace
 * `BatchMatMul` (every `tf.matMul`, and the products of their gradients, with transposes handled
 * by sgemm's flags instead of copies), `_FusedMatMul` and `GatherV2` (axis-0 row copies). They read
 * their inputs and write their outputs through byte offsets into the heap, so nothing is copied.
 *
 * This uses internals of tfjs-backend-wasm 4.x (`dataIdMap`, `makeOutput`, `wasm.HEAPU8`); the
 * backend checks for them when it starts and refuses to start without them.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from './addon.js';

/** The tfjs backend name. */
export const NATIVE = 'native';

interface WasmData {
  memoryOffset: number;
}
/** What the kernels use of tfjs-backend-wasm's `BackendWasm`. */
export interface WasmBackendInternals {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): WasmData | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
}

export function isWasmInternals(backend: unknown): backend is WasmBackendInternals {
  const b = backend as Partial<WasmBackendInternals> | null;
  return !!b && typeof b.makeOutput === 'function' && typeof b.dataIdMap?.get === 'function' && b.wasm?.HEAPU8 instanceof Uint8Array;
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };
type Kernel = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

function offset(backend: WasmBackendInternals, t: tf.TensorInfo): number {
  const data = backend.dataIdMap.get(t.dataId);
  if (!data) throw new Error(`native backend: no data for a tensor of shape [${t.shape}]`);
  return data.memoryOffset;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** The kernels of `wasm` that ours fall back to (non-float32 inputs, general broadcasting). */
const wasmKernel = (name: string): Kernel => {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`native backend: tfjs-backend-wasm has no '${name}' kernel`);
  return k.kernelFunc as unknown as Kernel;
};
/** A kernel of the native backend itself (used to compose bias and activations). */
const ownKernel = (name: string): Kernel => {
  const k = tf.getKernel(name, NATIVE);
  if (!k) throw new Error(`native backend: no '${name}' kernel`);
  return k.kernelFunc as unknown as Kernel;
};

function makeBatchMatMul(addon: NativeAddon): Kernel {
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
    const backend = args.backend as WasmBackendInternals;
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return wasmKernel(tf.BatchMatMul)(args);
    const ar = a.shape.length;
    const br = b.shape.length;
    const M = (transposeA ? a.shape[ar - 1] : a.shape[ar - 2]) as number;
    const Ka = (transposeA ? a.shape[ar - 2] : a.shape[ar - 1]) as number;
    const Kb = (transposeB ? b.shape[br - 1] : b.shape[br - 2]) as number;
    const N = (transposeB ? b.shape[br - 2] : b.shape[br - 1]) as number;
    if (Ka !== Kb)
      throw new Error(
        `Error in matMul: inner shapes (${Ka}) and (${Kb}) of Tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
      );
    const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
    const batch = size(outer);
    const batchA = size(a.shape.slice(0, -2));
    const batchB = size(b.shape.slice(0, -2));
    // One stride per operand: the whole batch, or one matrix for all. Anything else (e.g.
    // [2, 1] against [1, 3]) goes to the wasm kernel.
    if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) return wasmKernel(tf.BatchMatMul)(args);
    const out = backend.makeOutput([...outer, M, N], 'float32');
    if (batch > 0 && M > 0 && N > 0) {
      // Offsets are read after makeOutput, which may grow (and replace) the heap's buffer.
      addon.gemm(
        backend.wasm.HEAPU8.buffer,
        batch,
        M,
        N,
        Ka,
        transposeA ? 1 : 0,
        transposeB ? 1 : 0,
        offset(backend, a),
        batchA === 1 ? 0 : M * Ka,
        offset(backend, b),
        batchB === 1 ? 0 : Ka * N,
        offset(backend, out),
      );
    }
    return out;
  };
}

const ACTIVATIONS: Record<string, string> = {
  relu: tf.Relu,
  relu6: tf.Relu6,
  elu: tf.Elu,
  sigmoid: tf.Sigmoid,
  leakyrelu: tf.LeakyRelu,
  prelu: tf.Prelu,
};

/** `tf.fused.matMul`: the product, then the bias and the activation with the backend's own kernels. */
function makeFusedMatMul(batchMatMul: Kernel): Kernel {
  return (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean; activation?: string; leakyreluAlpha?: number };
    const backend = args.backend as WasmBackendInternals;
    let out = batchMatMul({ inputs: { a: a!, b: b! }, backend, attrs: { transposeA: !!attrs.transposeA, transposeB: !!attrs.transposeB } }) as tf.TensorInfo;
    const replace = (next: tf.TensorInfo) => {
      backend.disposeData(out.dataId);
      out = next;
    };
    if (bias) replace(ownKernel(tf.Add)({ inputs: { a: out, b: bias }, backend }) as tf.TensorInfo);
    const activation = attrs.activation ?? 'linear';
    if (activation !== 'linear') {
      const name = ACTIVATIONS[activation];
      if (!name) throw new Error(`native backend: unknown fused activation '${activation}'`);
      if (name === tf.Prelu) replace(ownKernel(name)({ inputs: { x: out, alpha: preluActivationWeights! }, backend }) as tf.TensorInfo);
      else if (name === tf.LeakyRelu) replace(ownKernel(name)({ inputs: { x: out }, backend, attrs: { alpha: attrs.leakyreluAlpha ?? 0.2 } }) as tf.TensorInfo);
      else replace(ownKernel(name)({ inputs: { x: out }, backend }) as tf.TensorInfo);
    }
    return out;
  };
}

/** `tf.gather` along axis 0 without batch dims: whole rows copied as blocks (wasm's kernel copies element by element). */
function gatherV2(args: KernelArgs): tf.TensorInfo {
  const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const { axis, batchDims } = (args.attrs ?? {}) as { axis: number; batchDims: number };
  const backend = args.backend as WasmBackendInternals;
  const ax = axis < 0 ? axis + x.shape.length : axis;
  if (ax !== 0 || (batchDims ?? 0) !== 0 || (x.dtype !== 'float32' && x.dtype !== 'int32') || indices.dtype !== 'int32')
    return wasmKernel(tf.GatherV2)(args) as tf.TensorInfo;
  const rows = x.shape[0] as number;
  const row = size(x.shape.slice(1));
  const n = size(indices.shape);
  const out = backend.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
  const heap = backend.wasm.HEAPU8.buffer as ArrayBuffer;
  const idx = new Int32Array(heap, offset(backend, indices), n);
  const View = x.dtype === 'int32' ? Int32Array : Float32Array;
  const src = new View(heap, offset(backend, x), rows * row);
  const dst = new View(heap, offset(backend, out), n * row);
  for (let i = 0; i < n; i++) {
    const r = idx[i] as number;
    if (r < 0 || r >= rows) {
      backend.disposeData(out.dataId);
      throw new Error(`GatherV2: index ${r} is not in [0, ${rows - 1}]`);
    }
    dst.set(src.subarray(r * row, (r + 1) * row), i * row);
  }
  return out;
}

/** Row-major strides of `shape`. */
function strides(shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    out[d] = s;
    s *= shape[d] as number;
  }
  return out;
}

/**
 * `[rank, ...shape, ...strides of each operand]` with dimensions of size 1 dropped and
 * neighbours merged wherever every operand is contiguous across them (so most layouts become one
 * or two dimensions).
 */
export function collapse(shape: readonly number[], operands: readonly (readonly number[])[]): Float64Array {
  const dims: { n: number; s: number[] }[] = [];
  shape.forEach((n, d) => {
    if (n === 1) return;
    const s = operands.map((o) => o[d] as number);
    const last = dims.at(-1);
    if (last && s.every((x, i) => last.s[i] === x * n)) {
      last.n *= n;
      last.s = s;
    } else dims.push({ n, s });
  });
  if (dims.length === 0) dims.push({ n: 1, s: operands.map(() => 1) });
  const rank = dims.length;
  const out = new Float64Array(1 + rank * (1 + operands.length));
  out[0] = rank;
  dims.forEach((d, i) => {
    out[1 + i] = d.n;
    d.s.forEach((x, k) => (out[1 + rank * (k + 1) + i] = x));
  });
  return out;
}

/** An input's strides along each dimension of the broadcast output shape (0 where broadcast). */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = strides(shape);
  const lead = outShape.length - shape.length;
  return outShape.map((_, d) => (d < lead || shape[d - lead] === 1 ? 0 : (own[d - lead] as number)));
}

const BINARY: Record<string, number> = {
  [tf.Add]: 0,
  [tf.Sub]: 1,
  [tf.Multiply]: 2,
  [tf.RealDiv]: 3,
  [tf.SquaredDifference]: 4,
  [tf.Maximum]: 5,
  [tf.Minimum]: 6,
};

function makeBinary(addon: NativeAddon, name: string, op: number): Kernel {
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return wasmKernel(name)(args);
    const backend = args.backend as WasmBackendInternals;
    const outShape = tf.broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const out = backend.makeOutput(outShape, 'float32');
    if (size(outShape) === 0) return out;
    const layout = collapse(outShape, [broadcastStrides(a.shape, outShape), broadcastStrides(b.shape, outShape)]);
    addon.binary(backend.wasm.HEAPU8.buffer, op, layout, offset(backend, a), offset(backend, b), offset(backend, out));
    return out;
  };
}

const UNARY: Record<string, number> = {
  [tf.Sigmoid]: 0,
  [tf.Exp]: 1,
  [tf.Square]: 2,
  [tf.Neg]: 3,
  [tf.Rsqrt]: 4,
  [tf.Sqrt]: 5,
  [tf.Log]: 6,
  [tf.Relu]: 7,
  [tf.Tanh]: 8,
  [tf.Reciprocal]: 9,
  [tf.Abs]: 10,
};

function makeUnary(addon: NativeAddon, name: string, op: number): Kernel {
  return (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype !== 'float32') return wasmKernel(name)(args);
    const backend = args.backend as WasmBackendInternals;
    const out = backend.makeOutput(x.shape, 'float32');
    const n = size(x.shape);
    if (n > 0) addon.unary(backend.wasm.HEAPU8.buffer, op, n, offset(backend, x), offset(backend, out));
    return out;
  };
}

function makeSoftmax(addon: NativeAddon): Kernel {
  return (args) => {
    const { logits } = args.inputs as { logits: tf.TensorInfo };
    const { dim } = (args.attrs ?? {}) as { dim: number };
    const rank = logits.shape.length;
    if (logits.dtype !== 'float32' || (dim !== -1 && dim !== rank - 1)) return wasmKernel(tf.Softmax)(args);
    const backend = args.backend as WasmBackendInternals;
    const out = backend.makeOutput(logits.shape, 'float32');
    const n = (logits.shape[rank - 1] ?? 1) as number;
    const total = size(logits.shape);
    if (total > 0) addon.softmax(backend.wasm.HEAPU8.buffer, total / n, n, offset(backend, logits), offset(backend, out));
    return out;
  };
}

function makeTranspose(addon: NativeAddon): Kernel {
  return (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { perm } = (args.attrs ?? {}) as { perm: number[] };
    if (x.dtype !== 'float32') return wasmKernel(tf.Transpose)(args);
    const backend = args.backend as WasmBackendInternals;
    const outShape = perm.map((p) => x.shape[p] as number);
    const out = backend.makeOutput(outShape, 'float32');
    if (size(outShape) === 0) return out;
    const own = strides(x.shape);
    const layout = collapse(outShape, [perm.map((p) => own[p] as number)]);
    addon.transpose(backend.wasm.HEAPU8.buffer, layout, offset(backend, x), offset(backend, out));
    return out;
  };
}

/** A new reference to the same data (tensors are immutable): what the cpu backend does. */
function shareData(args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const backend = args.backend as WasmBackendInternals & { incRef(dataId: object): void };
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

function identity(args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  if (x.dtype === 'string') return wasmKernel(tf.Identity)(args) as tf.TensorInfo;
  return shareData(args);
}

function cast(args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { dtype } = (args.attrs ?? {}) as { dtype: tf.DataType };
  if (x.dtype === dtype && dtype !== 'string') return shareData(args);
  return wasmKernel(tf.Cast)(args) as tf.TensorInfo;
}

/**
 * The kernel `GrpoDecodeAttention` that @grpo/plugin-transformer uses for decoding when the
 * active backend has it. Inputs: `q` `[n, H, hd]`; `promptK`/`promptV` `[P, Hkv, Pmax, hd]` (the
 * keys and values of each distinct prompt, once); `genK`/`genV` `[n, Hkv, cap, hd]` (those of the
 * generated tokens, per sequence); `kNew`/`vNew` `[n, Hkv, hd]`; `pads` and `rowPrompt` int32
 * `[n]`. Attribute `length`: L, the positions before this step (Pmax ≤ L < Pmax + cap). It writes
 * the new keys and values at position L, i.e. `genK[:, :, L − Pmax]`, in place (the caller owns
 * the caches and shares them with nothing), and returns the attention output `[n, H·hd]` of each
 * row over its positions `pads[r]..L`, the first Pmax of them from its prompt `rowPrompt[r]`.
 */
export const DECODE_ATTENTION = 'GrpoDecodeAttention';

const DECODE_INPUTS = ['q', 'promptK', 'promptV', 'genK', 'genV', 'kNew', 'vNew', 'pads', 'rowPrompt'] as const;

function makeDecodeAttention(addon: NativeAddon): Kernel {
  return (args) => {
    const inputs = args.inputs as Record<(typeof DECODE_INPUTS)[number], tf.TensorInfo>;
    const { length } = (args.attrs ?? {}) as { length: number };
    const backend = args.backend as WasmBackendInternals;
    const [n, H, hd] = inputs.q.shape as [number, number, number];
    const [P, Hkv, Pmax] = inputs.promptK.shape as [number, number, number, number];
    const cap = inputs.genK.shape[2] as number;
    if (inputs.pads.dtype !== 'int32' || inputs.rowPrompt.dtype !== 'int32') throw new Error(`${DECODE_ATTENTION}: pads and rowPrompt must be int32`);
    const out = backend.makeOutput([n, H * hd], 'float32');
    const offsets = new Float64Array(10);
    DECODE_INPUTS.forEach((name, i) => (offsets[i] = offset(backend, inputs[name])));
    offsets[9] = offset(backend, out);
    addon.decodeAttention(backend.wasm.HEAPU8.buffer, new Float64Array([n, H, Hkv, P, Pmax, cap, hd, length]), offsets);
    return out;
  };
}

/**
 * The kernel `GrpoRope` that @grpo/plugin-transformer uses for rotary embeddings when the active
 * backend has it: `x` `[B, H, T, hd]`, `cos`/`sin` `[R, 1, T, hd]` with R = 1 or B (rotate-half
 * layout). Returns `x·cos + rotate_half(x)·sin`, or with the attribute `backward` its gradient
 * `dy·cos + rotate_halfᵀ(dy·sin)` for `x` = dy. One pass instead of a product with a signed
 * permutation, two products and a sum, with the same float results.
 */
export const ROPE = 'GrpoRope';

function makeRope(addon: NativeAddon): Kernel {
  return (args) => {
    const { x, cos, sin } = args.inputs as Record<'x' | 'cos' | 'sin', tf.TensorInfo>;
    const { backward } = (args.attrs ?? {}) as { backward?: boolean };
    const backend = args.backend as WasmBackendInternals;
    const [B, H, T, hd] = x.shape as [number, number, number, number];
    const R = cos.shape[0] as number;
    const table = [R, 1, T, hd];
    if (x.shape.length !== 4 || [cos, sin].some((t) => t.shape.length !== 4 || t.shape.some((n, i) => n !== table[i])) || (R !== 1 && R !== B))
      throw new Error(`${ROPE}: expected x [B, H, T, hd] and cos, sin [1 or B, 1, T, hd], got [${x.shape}], [${cos.shape}], [${sin.shape}]`);
    if ([x, cos, sin].some((t) => t.dtype !== 'float32')) throw new Error(`${ROPE}: float32 inputs only`);
    const out = backend.makeOutput([B, H, T, hd], 'float32');
    const offsets = new Float64Array([offset(backend, x), offset(backend, cos), offset(backend, sin), offset(backend, out)]);
    addon.rope(backend.wasm.HEAPU8.buffer, new Float64Array([B, H, T, hd, R, backward ? 1 : 0]), offsets);
    return out;
  };
}

/**
 * The kernels `GrpoSwiGlu` (inputs `gate`, `up` of one shape: `(gate·σ(gate))·up`) and
 * `GrpoSwiGluGrad` (inputs `gate`, `up`, `dy`: the gradients for `gate` and `up`) that
 * @grpo/plugin-transformer uses for its feed-forward layer when the active backend has them: one
 * pass each instead of three ops forward and nine backward, with the same float results.
 */
export const SWIGLU = 'GrpoSwiGlu';
export const SWIGLU_GRAD = 'GrpoSwiGluGrad';

function makeSwiGlu(addon: NativeAddon, grad: boolean): Kernel {
  const name = grad ? SWIGLU_GRAD : SWIGLU;
  return (args) => {
    const inputs = args.inputs as Record<'gate' | 'up' | 'dy', tf.TensorInfo>;
    const operands = grad ? [inputs.gate, inputs.up, inputs.dy] : [inputs.gate, inputs.up];
    const backend = args.backend as WasmBackendInternals;
    const shape = inputs.gate.shape;
    if (operands.some((t) => !t || t.dtype !== 'float32' || t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i])))
      throw new Error(`${name}: expected float32 inputs of one shape, got ${operands.map((t) => `[${t?.shape}]`).join(', ')}`);
    const outputs = (grad ? [0, 1] : [0]).map(() => backend.makeOutput([...shape], 'float32'));
    const n = size(shape);
    if (n > 0) addon.swiGlu(backend.wasm.HEAPU8.buffer, n, new Float64Array([...operands, ...outputs].map((t) => offset(backend, t))));
    return grad ? outputs : outputs[0]!;
  };
}

let registered = false;

/**
 * Registers the `native` backend with tfjs: a new tfjs-backend-wasm instance, every wasm kernel
 * under the name `native`, and the addon's kernels in place of the hot ones. Idempotent.
 */
export function registerNativeBackend(addon: NativeAddon): void {
  if (registered) return;
  const wasmFactory = tf.findBackendFactory('wasm');
  if (!wasmFactory) throw new Error('@tensorflow/tfjs-backend-wasm did not register its backend with this copy of @tensorflow/tfjs');
  const batchMatMul = makeBatchMatMul(addon);
  const own: Record<string, Kernel> = {
    [tf.BatchMatMul]: batchMatMul,
    [tf._FusedMatMul]: makeFusedMatMul(batchMatMul),
    [tf.GatherV2]: gatherV2,
    [tf.Identity]: identity,
    [tf.Cast]: cast,
    [tf.Softmax]: makeSoftmax(addon),
    [tf.Transpose]: makeTranspose(addon),
    [DECODE_ATTENTION]: makeDecodeAttention(addon),
    [ROPE]: makeRope(addon),
    [SWIGLU]: makeSwiGlu(addon, false),
    [SWIGLU_GRAD]: makeSwiGlu(addon, true),
  };
  for (const [name, op] of Object.entries(BINARY)) own[name] = makeBinary(addon, name, op);
  for (const [name, op] of Object.entries(UNARY)) own[name] = makeUnary(addon, name, op);
  // wasm kernels call each other's internals (Sum calls Transpose's function), bound to a wasm
  // module by each kernel's setupFunc when a backend becomes active: every setupFunc must run for
  // this backend too, including those of the kernels replaced here.
  for (const config of tf.getKernelsForBackend('wasm')) {
    const kernelFunc = own[config.kernelName];
    tf.registerKernel({ ...config, backendName: NATIVE, ...(kernelFunc ? { kernelFunc: kernelFunc as unknown as tf.KernelFunc } : {}) });
  }
  for (const [kernelName, kernelFunc] of Object.entries(own))
    if (!tf.getKernel(kernelName, NATIVE)) tf.registerKernel({ kernelName, backendName: NATIVE, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  tf.registerBackend(
    NATIVE,
    async () => {
      const backend = await wasmFactory();
      if (!isWasmInternals(backend)) throw new Error('this version of @tensorflow/tfjs-backend-wasm lacks the internals the native kernels use (4.x has them)');
      return backend;
    },
    // Below wasm (2) and cpu (1): never picked unless asked for.
    0,
  );
  registered = true;
}
