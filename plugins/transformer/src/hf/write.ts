/**
 * Writing safetensors files in the float dtypes Hugging Face tools read: F32, F16 and BF16
 * (core's encoder writes F32/I32 only). Narrowing rounds to nearest, ties to even, as PyTorch's
 * `.to(torch.float16)` / `.to(torch.bfloat16)` do.
 */
export type FloatDtype = 'F32' | 'F16' | 'BF16';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The bfloat16 bits of `x` (round to nearest even; NaN stays NaN). */
export function toBf16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0] as number;
  if (Number.isNaN(x)) return 0x7fc0;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The IEEE half-precision bits of `x` (round to nearest even; overflow to ±Infinity). */
export function toF16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0] as number;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the mantissa with its implicit bit into place, rounding.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let out = mant >>> shift;
    if (rest > half || (rest === half && out & 1)) out++;
    return sign | out;
  }
  let out = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && out & 1)) out++; // may carry into the exponent, which is right
  return sign | out;
}

/** `values` as little-endian bytes of `dtype`. */
export function floatBytes(values: Float32Array, dtype: FloatDtype): Uint8Array {
  if (dtype === 'F32') {
    const out = new Uint8Array(values.length * 4);
    const view = new DataView(out.buffer);
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i] as number, true);
    return out;
  }
  const toBits = dtype === 'BF16' ? toBf16Bits : toF16Bits;
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setUint16(i * 2, toBits(values[i] as number), true);
  return out;
}

/** A tensor to write: float32 values, converted to `dtype`. */
export interface FloatTensor {
  shape: number[];
  values: Float32Array;
}

/** A safetensors file: 8-byte little-endian header length, the JSON header (padded to 8 bytes), the data. */
export function encodeFloatSafetensors(tensors: Record<string, FloatTensor>, dtype: FloatDtype, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = floatBytes(t.values, dtype);
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
