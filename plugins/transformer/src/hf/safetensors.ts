/**
 * Reading a Hugging Face safetensors file one tensor at a time: the header is parsed and checked
 * against the file's size when the file is opened, and each tensor's bytes are read only when
 * asked for, so loading never holds more than one tensor's raw bytes beside the model.
 *
 * F32, F16 and BF16 tensors are returned as float32 (F16 and BF16 widen exactly); any other
 * dtype is refused when read. (`@grpo/core/checkpoint` reads whole files of the F32/I32 tensors
 * GRPO.ts writes itself; this reader is for the dtypes and sizes of published models.)
 */
import { open, type FileHandle } from '#node-io';
import { CheckpointError } from '@grpo/core';

/** Bytes per element of every dtype the format defines. */
const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};
/** The dtypes `readFloat32` converts. */
export const FLOAT_DTYPES = ['F32', 'F16', 'BF16'] as const;

const MAX_HEADER_BYTES = 100_000_000;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export interface TensorInfo {
  dtype: string;
  shape: number[];
  /** Byte range in the file (absolute). */
  begin: number;
  end: number;
}

/** An open safetensors file: its header, and its tensors read on demand. Call `close()`. */
export class SafetensorsReader {
  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
  ) {}

  /** Opens `file` and validates its header against the file size (a truncated file is refused here). */
  static async open(file: string): Promise<SafetensorsReader> {
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new CheckpointError(code === 'ENOENT' ? `${file}: file is missing.` : `${file}: cannot read: ${(error as Error).message}`, { cause: error });
    }
    try {
      return new SafetensorsReader(file, handle, await readHeader(file, handle));
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /**
   * The tensor's values as float32 (F32, F16 or BF16 on disk). With `transpose` a 2-D `[r, c]`
   * tensor comes back as `[c, r]` (row-major).
   */
  async readFloat32(name: string, { transpose = false }: { transpose?: boolean } = {}): Promise<Float32Array> {
    const info = this.tensors.get(name);
    if (!info) throw new CheckpointError(`${this.file}: no tensor '${name}'`);
    if (!(FLOAT_DTYPES as readonly string[]).includes(info.dtype))
      throw new CheckpointError(`${this.file}: tensor '${name}' has dtype ${info.dtype}; supported: ${FLOAT_DTYPES.join(', ')}`);
    const bytes = await readExactly(this.handle, info.end - info.begin, info.begin);
    if (bytes.length !== info.end - info.begin) throw new CheckpointError(`${this.file}: tensor '${name}': unexpected end of file (truncated?)`);
    const values = toFloat32(bytes, info.dtype as (typeof FLOAT_DTYPES)[number]);
    if (!transpose) return values;
    if (info.shape.length !== 2) throw new Error(`${this.file}: tensor '${name}' is not 2-D and cannot be transposed`);
    const [r, c] = info.shape as [number, number];
    const out = new Float32Array(values.length);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = values[i * c + j] as number;
    return out;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** `length` bytes from `position`, or fewer where the file ends. */
async function readExactly(handle: FileHandle, length: number, position: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let at = 0;
  while (at < length) {
    const { bytesRead } = await handle.read(out, at, length - at, position + at);
    if (bytesRead === 0) break;
    at += bytesRead;
  }
  return out.subarray(0, at);
}

async function readHeader(file: string, handle: FileHandle): Promise<Map<string, TensorInfo>> {
  const fail = (problem: string): never => {
    throw new CheckpointError(`${file}: not a valid safetensors file: ${problem}`);
  };
  const size = (await handle.stat()).size;
  if (size < 8) fail(`truncated: ${size} bytes, too short for the 8-byte header length`);
  const lengthBytes = await readExactly(handle, 8, 0);
  const n = new DataView(lengthBytes.buffer, lengthBytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(size - 8)) fail(`header length ${n} is beyond the file size (${size} bytes; the file may be truncated)`);
  const headerLength = Number(n);
  if (headerLength > MAX_HEADER_BYTES) fail(`header length ${headerLength} exceeds ${MAX_HEADER_BYTES} bytes`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await readExactly(handle, headerLength, 8)));
  } catch (error) {
    fail(`malformed header JSON (${(error as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('the header must be a JSON object');
  const dataStart = 8 + headerLength;
  const dataLength = size - dataStart;
  const out = new Map<string, TensorInfo>();
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const what = `tensor '${name}'`;
    const { dtype, shape, data_offsets: offsets } = (raw ?? {}) as Record<string, unknown>;
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) fail(`${what}: unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0))
      fail(`${what}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0) || offsets[0] > offsets[1])
      fail(`${what}: data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got ${JSON.stringify(offsets)}`);
    const [begin, end] = offsets as [number, number];
    if (end > dataLength) fail(`${what}: data_offsets [${begin}, ${end}] are beyond the data section (${dataLength} bytes; the file is truncated)`);
    const dims = shape as number[];
    const bytes = dims.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[dtype as string] as number);
    if (bytes !== end - begin)
      fail(`${what}: shape [${dims.join(', ')}] of ${String(dtype)} needs ${bytes} bytes, but data_offsets [${begin}, ${end}] hold ${end - begin}`);
    out.set(name, { dtype: dtype as string, shape: dims, begin: dataStart + begin, end: dataStart + end });
  }
  return out;
}

let f16Table: Float32Array | undefined;

/** Every float16 bit pattern's value (IEEE 754 binary16: subnormals, ±0, ±∞ and NaN included). */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  f16Table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    f16Table[h] = exp === 0 ? sign * frac * 2 ** -24 : exp === 31 ? (frac ? NaN : sign * Infinity) : sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return f16Table;
}

/** Little-endian F32, F16 or BF16 bytes as float32 values (exact: both 16-bit formats widen without rounding). */
export function toFloat32(bytes: Uint8Array, dtype: (typeof FLOAT_DTYPES)[number]): Float32Array {
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  if (dtype === 'F32') {
    if (LITTLE_ENDIAN) return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
    const view = new DataView(aligned.buffer, aligned.byteOffset, aligned.byteLength);
    return Float32Array.from({ length: aligned.byteLength / 4 }, (_, i) => view.getFloat32(4 * i, true));
  }
  const n = aligned.byteLength / 2;
  let halves: Uint16Array;
  if (LITTLE_ENDIAN) halves = new Uint16Array(aligned.buffer, aligned.byteOffset, n);
  else {
    const view = new DataView(aligned.buffer, aligned.byteOffset, aligned.byteLength);
    halves = Uint16Array.from({ length: n }, (_, i) => view.getUint16(2 * i, true));
  }
  if (dtype === 'BF16') {
    // bfloat16 is the upper half of a float32.
    const bits = new Uint32Array(n);
    for (let i = 0; i < n; i++) bits[i] = (halves[i] as number) << 16;
    return new Float32Array(bits.buffer);
  }
  const table = halfTable();
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = table[halves[i] as number] as number;
  return out;
}
