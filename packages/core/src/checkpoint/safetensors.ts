import { CheckpointError } from '../errors.js';

/**
 * Reading and writing the safetensors format (https://github.com/huggingface/safetensors):
 *
 *     [8 bytes: N, unsigned little-endian u64]
 *     [N bytes: UTF-8 JSON header, padded with spaces so that 8 + N is a multiple of 8]
 *     [data: raw little-endian tensor bytes]
 *
 * The header maps each tensor name to `{ dtype, shape, data_offsets: [begin, end] }` (offsets
 * relative to the start of the data section), plus an optional `"__metadata__"` object of
 * string → string. Only the dtypes this framework uses are supported: `F32` and `I32`.
 */

export type StDtype = 'F32' | 'I32';
export interface StTensor {
  dtype: StDtype;
  shape: number[];
  data: Float32Array | Int32Array;
}

const BYTES_PER_ELEMENT: Record<StDtype, number> = { F32: 4, I32: 4 };
/** The dtypes the published format defines; others are "unknown", these are "unsupported". */
const FORMAT_DTYPES = new Set(['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64']);
/** Refuse absurd header lengths before allocating anything (the reference implementation uses 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function isDtype(value: unknown): value is StDtype {
  return value === 'F32' || value === 'I32';
}

/** Little-endian bytes of a typed array (a view when the platform is little-endian). */
function littleEndianBytes(data: Float32Array | Int32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < bits.length; i++) view.setUint32(i * 4, bits[i] as number, true);
  return out;
}

function fromLittleEndian(bytes: Uint8Array, dtype: StDtype): Float32Array | Int32Array {
  // Copy into a fresh, aligned buffer: the data may start at any offset of the file.
  const copy = new Uint8Array(bytes.length);
  if (LITTLE_ENDIAN) {
    copy.set(bytes);
  } else {
    const src = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const dst = new DataView(copy.buffer);
    for (let i = 0; i < bytes.length; i += 4) dst.setUint32(i, src.getUint32(i, true));
  }
  return dtype === 'F32' ? new Float32Array(copy.buffer) : new Int32Array(copy.buffer);
}

/**
 * Serialises tensors (in name order) and optional string metadata into safetensors bytes.
 * Values are copied bit for bit, NaN payloads and −0 included.
 */
export function encodeSafetensors(tensors: Record<string, StTensor>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new TypeError(`safetensors metadata '${k}' must be a string, got ${typeof v}.`);
    }
    header[METADATA_KEY] = { ...metadata };
  }
  let offset = 0;
  for (const name of names) {
    if (name === METADATA_KEY) throw new TypeError(`'${METADATA_KEY}' cannot be a tensor name.`);
    const t = tensors[name] as StTensor;
    if (!isDtype(t.dtype)) throw new TypeError(`Tensor '${name}': unsupported dtype ${JSON.stringify(t.dtype)} (F32 or I32).`);
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new TypeError(`Tensor '${name}': shape [${t.shape.join(', ')}] must hold non-negative integers.`);
    }
    const expectedType = t.dtype === 'F32' ? Float32Array : Int32Array;
    if (!(t.data instanceof expectedType)) throw new TypeError(`Tensor '${name}': ${t.dtype} data must be a ${expectedType.name}.`);
    if (t.data.length !== elementCount(t.shape)) {
      throw new TypeError(`Tensor '${name}': shape [${t.shape.join(', ')}] needs ${elementCount(t.shape)} values, got ${t.data.length}.`);
    }
    const size = t.data.length * BYTES_PER_ELEMENT[t.dtype];
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + size] };
    offset += size;
  }
  let headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(headerBytes.length / 8) * 8;
  if (padded !== headerBytes.length) {
    const withPad = new Uint8Array(padded).fill(0x20);
    withPad.set(headerBytes);
    headerBytes = withPad;
  }
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const bytes = littleEndianBytes((tensors[name] as StTensor).data);
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

/**
 * Parses and validates safetensors bytes. Every problem (truncated file, header length beyond the
 * file, malformed header JSON, unknown or unsupported dtype, bad shape, offsets out of range,
 * overlapping or leaving gaps, size not matching shape × dtype) is a `CheckpointError` whose
 * message starts with `fileName`.
 */
export function decodeSafetensors(bytes: Uint8Array, fileName: string): { tensors: Record<string, StTensor>; metadata: Record<string, string> } {
  const fail = (problem: string): never => {
    throw new CheckpointError(`${fileName}: not a valid safetensors file: ${problem}.`);
  };
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, too short for the 8-byte header length`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (n > BigInt(bytes.length - 8)) {
    fail(`header length ${n} is beyond the file size (${bytes.length} bytes; the file may be truncated)`);
  }
  const headerLength = Number(n);
  if (headerLength > MAX_HEADER_BYTES) fail(`header length ${headerLength} exceeds ${MAX_HEADER_BYTES} bytes`);
  let header: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
    header = JSON.parse(text);
  } catch (error) {
    fail(`malformed header JSON (${(error as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('the header must be a JSON object');
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;

  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: StDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`"${METADATA_KEY}" must be an object of strings`);
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`"${METADATA_KEY}.${k}" must be a string, got ${JSON.stringify(v)}`);
        metadata[k] = v as string;
      }
      continue;
    }
    const what = `tensor '${name}'`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`${what}: expected { dtype, shape, data_offsets }`);
    const info = raw as Record<string, unknown>;
    const { dtype, shape, data_offsets: offsets } = info;
    if (!isDtype(dtype)) {
      fail(
        typeof dtype === 'string' && FORMAT_DTYPES.has(dtype)
          ? `${what}: unsupported dtype "${dtype}" (this reader supports F32 and I32)`
          : `${what}: unknown dtype ${JSON.stringify(dtype)}`,
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      fail(`${what}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0) ||
      (offsets[0] as number) > (offsets[1] as number)
    ) {
      fail(`${what}: data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLength) {
      fail(`${what}: data_offsets [${begin}, ${end}] are out of range (the data section has ${dataLength} bytes; the file may be truncated)`);
    }
    const dims = shape as number[];
    const expected = elementCount(dims) * BYTES_PER_ELEMENT[dtype as StDtype];
    if (expected !== end - begin) {
      fail(`${what}: shape [${dims.join(', ')}] of ${dtype} needs ${expected} bytes, but data_offsets [${begin}, ${end}] hold ${end - begin}`);
    }
    entries.push({ name, dtype: dtype as StDtype, shape: dims, begin, end });
  }

  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: (typeof entries)[number] | undefined;
  for (const e of sorted) {
    if (previous && e.begin < previous.end) {
      fail(`tensors '${previous.name}' [${previous.begin}, ${previous.end}] and '${e.name}' [${e.begin}, ${e.end}] overlap`);
    }
    if (e.begin > covered) fail(`bytes [${covered}, ${e.begin}) of the data section belong to no tensor`);
    covered = Math.max(covered, e.end);
    previous = e;
  }
  if (covered !== dataLength) fail(`the data section has ${dataLength - covered} trailing bytes that belong to no tensor`);

  const tensors: Record<string, StTensor> = {};
  for (const e of entries) {
    const data = fromLittleEndian(bytes.subarray(dataStart + e.begin, dataStart + e.end), e.dtype);
    tensors[e.name] = { dtype: e.dtype, shape: e.shape, data };
  }
  return { tensors, metadata };
}
