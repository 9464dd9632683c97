/**
 * The GGUF writer's number formats against worked values: IEEE 754 half-precision bit patterns
 * (from the standard's definition, not from our encoder), and Q8_0 blocks checked by decoding them
 * independently in float64.
 */
import { describe, expect, it } from 'vitest';
import { encodeGguf, f32ToF16, Q4_0_BLOCK, Q8_0_BLOCK, quantizeQ4_0, quantizeQ8_0 } from './gguf.js';

/** An f16 bit pattern's value, straight from the format: (−1)^s · 2^(e−15) · 1.m, or 2^−14 · 0.m. */
function f16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return e === 0 ? sign * 2 ** -14 * (m / 1024) : sign * 2 ** (e - 15) * (1 + m / 1024);
}

describe('f32ToF16', () => {
  it('gives the IEEE 754 half-precision bits, rounding to nearest even', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff], // largest finite half
      [65520, 0x7c00], // halfway to 2^16 rounds to even: ∞
      [1e6, 0x7c00],
      [Infinity, 0x7c00],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // halfway to 0 and 2^-24: even is 0
      [1.5 * 2 ** -25, 0x0001],
      [3 * 2 ** -25, 0x0002], // halfway between subnormals 1 and 2: even is 2
      [1 + 2 ** -11, 0x3c00], // halfway between 1 and 1 + 2^-10: even is 1
      [1 + 3 * 2 ** -11, 0x3c02], // halfway between 1 + 2^-10 and 1 + 2^-9: even is the latter
      [2047 / 1024, 0x3fff + 0], // 1.9990234375 is exact
    ];
    for (const [x, bits] of cases) expect([x, f32ToF16(x)]).toEqual([x, bits]);
    expect(f32ToF16(NaN) & 0x7c00).toBe(0x7c00);
    expect(f32ToF16(NaN) & 0x3ff).not.toBe(0);
  });

  it('is within half an ulp of every value in the normal range', () => {
    for (let i = 0; i < 2000; i++) {
      const x = (Math.sin(i * 12.9898) * 43758.5453) % 300;
      const y = f16Value(f32ToF16(x));
      const ulp = 2 ** (Math.floor(Math.log2(Math.abs(x))) - 10);
      expect(Math.abs(y - Math.fround(x))).toBeLessThanOrEqual(ulp / 2);
    }
  });
});

describe('quantizeQ8_0', () => {
  it('writes blocks of an f16 scale max|x|/127 and int8 quants round(x/d)', () => {
    // Block 0: x_j = (2j − 31)/31, max|x| = 1 at j = 0 and 31. Block 1: all zeros (scale 0, quants 0).
    const x = new Float32Array(2 * Q8_0_BLOCK);
    for (let j = 0; j < Q8_0_BLOCK; j++) x[j] = (2 * j - 31) / 31;
    const bytes = quantizeQ8_0(x);
    expect(bytes.length).toBe(2 * 34);
    const d = f16Value(bytes.readUInt16LE(0));
    expect(d).toBeCloseTo(1 / 127, 5);
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      // (2j − 31)·127/31 is at least 1/62 from a tie, so float64 rounding is the reference.
      expect(bytes.readInt8(2 + j)).toBe(Math.round(((2 * j - 31) * 127) / 31));
      // Dequantised d·q is within half a step (plus the scale's f16 rounding) of x.
      expect(Math.abs(d * bytes.readInt8(2 + j) - x[j]!)).toBeLessThanOrEqual(d / 2 + 1e-4);
    }
    expect([bytes.readInt8(2), bytes.readInt8(2 + 31)]).toEqual([-127, 127]);
    expect([...bytes.subarray(34)]).toEqual(Array.from({ length: 34 }, () => 0));
  });

  it('refuses lengths that are not whole blocks, and Q8_0 tensors whose rows are not', () => {
    expect(() => quantizeQ8_0(new Float32Array(33))).toThrow(/blocks of 32/);
    const data = new Float32Array(48 * 2);
    expect(() => encodeGguf({}, [{ name: 'w', dims: [48, 2], data, type: 'Q8_0' }])).toThrow(/w: Q8_0 needs rows of a multiple of 32/);
  });

  it('stores a Q8_0 tensor as type 8 with 34 bytes per block after the header', () => {
    const data = new Float32Array(64).map((_, i) => i / 64);
    const file = encodeGguf({}, [{ name: 'w', dims: [32, 2], data, type: 'Q8_0' }]);
    // Header: magic, version, tensor count, kv count; then the tensor info: name, n_dims, dims, type, offset.
    let at = 4 + 4 + 8 + 8;
    const nameLength = Number(file.readBigUInt64LE(at));
    at += 8 + nameLength;
    expect(file.readUInt32LE(at)).toBe(2);
    expect([Number(file.readBigUInt64LE(at + 4)), Number(file.readBigUInt64LE(at + 12))]).toEqual([32, 2]);
    expect(file.readUInt32LE(at + 20)).toBe(8); // GGML_TYPE_Q8_0
    const dataStart = Math.ceil((at + 32) / 32) * 32;
    expect(file.length).toBe(dataStart + Math.ceil((2 * 34) / 32) * 32);
    expect(file.subarray(dataStart, dataStart + 68).equals(quantizeQ8_0(data))).toBe(true);
  });
});

describe('quantizeQ4_0', () => {
  it('writes blocks of an f16 scale m/−8 (m the value of largest magnitude) and 4-bit quants min(15, ⌊x/d + 8.5⌋), value j low and j + 16 high', () => {
    const x = new Float32Array(3 * Q4_0_BLOCK);
    // Block 0: x_j = j − 8 and x_{16+j} = (j − 8)/2, so m = −8, d = 1: quants j and ⌊j/2 + 4.5⌋.
    for (let j = 0; j < 16; j++) [x[j], x[16 + j]] = [j - 8, (j - 8) / 2];
    // Block 1: 0.5 but x_5 = 2 (m = 2, d = −0.25: quant 0), x_20 = −1 (quant 12) and x_31 = −1.9
    // (⌊7.6 + 8.5⌋ = 16, clamped to 15). Block 2: zeros (d = 0, every quant 8).
    x.fill(0.5, 32, 64);
    [x[32 + 5], x[32 + 20], x[32 + 31]] = [2, -1, -1.9];
    const bytes = quantizeQ4_0(x);
    expect(bytes.length).toBe(3 * 18);
    expect(bytes.readUInt16LE(0)).toBe(0x3c00); // f16 1.0
    expect([...bytes.subarray(2, 18)]).toEqual(Array.from({ length: 16 }, (_, j) => j | ((4 + Math.floor((j + 1) / 2)) << 4)));
    expect(bytes.readUInt16LE(18)).toBe(0xb400); // f16 −0.25
    const low = Array.from({ length: 16 }, (_, j) => (j === 5 ? 0 : 6));
    const high = Array.from({ length: 16 }, (_, j) => (j === 4 ? 12 : j === 15 ? 15 : 6));
    expect([...bytes.subarray(20, 36)]).toEqual(low.map((l, j) => l | (high[j]! << 4)));
    expect(bytes.readUInt16LE(36)).toBe(0x8000); // −0: 0 / −8 in IEEE arithmetic, as C computes it
    expect([...bytes.subarray(38, 54)]).toEqual(Array.from({ length: 16 }, () => 0x88));
    // Dequantised d·(q − 8) recovers block 0 within half a step (the odd halves round up).
    const d = f16Value(bytes.readUInt16LE(0));
    for (let j = 0; j < 16; j++) {
      expect(d * ((bytes[2 + j]! & 15) - 8)).toBe(x[j]);
      expect(d * ((bytes[2 + j]! >> 4) - 8) - x[16 + j]!).toBe(j % 2 ? 0.5 : 0);
    }
  });

  it('refuses lengths that are not whole blocks, stores type 2 with 18 bytes per block', () => {
    expect(() => quantizeQ4_0(new Float32Array(40))).toThrow(/blocks of 32/);
    expect(() => encodeGguf({}, [{ name: 'w', dims: [48, 2], data: new Float32Array(96), type: 'Q4_0' }])).toThrow(/w: Q4_0 needs rows of a multiple of 32/);
    const data = new Float32Array(64).map((_, i) => i / 64 - 0.3);
    const file = encodeGguf({}, [{ name: 'w', dims: [32, 2], data, type: 'Q4_0' }]);
    let at = 4 + 4 + 8 + 8;
    at += 8 + Number(file.readBigUInt64LE(at));
    expect(file.readUInt32LE(at + 20)).toBe(2); // GGML_TYPE_Q4_0
    const dataStart = Math.ceil((at + 32) / 32) * 32;
    expect(file.length).toBe(dataStart + Math.ceil((2 * 18) / 32) * 32);
    expect(file.subarray(dataStart, dataStart + 36).equals(quantizeQ4_0(data))).toBe(true);
  });
});
