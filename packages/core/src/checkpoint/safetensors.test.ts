import { CheckpointError } from '../errors.js';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, type StTensor } from './safetensors.js';

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

/** safetensors bytes from a literal header string (padded here only if asked) and raw data bytes. */
function build(header: string, data: number[], headerLength = header.length): Uint8Array {
  const n = [headerLength & 0xff, (headerLength >> 8) & 0xff, (headerLength >> 16) & 0xff, headerLength >>> 24, 0, 0, 0, 0];
  return new Uint8Array([...n, ...ascii(header), ...data]);
}

function bitsOf(data: Float32Array | Int32Array): number[] {
  return [...new Uint32Array(data.buffer, data.byteOffset, data.length)];
}

describe('safetensors encoding', () => {
  it('matches bytes built by hand for a tiny tensor', () => {
    // Header: 54 characters, padded with 2 spaces to 56 = 0x38 so the data starts at byte 64.
    // 1.0f = 0x3F800000 and -2.0f = 0xC0000000, stored little-endian.
    const header = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  ';
    const expected = [0x38, 0, 0, 0, 0, 0, 0, 0, ...ascii(header), 0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0];
    const bytes = encodeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) } });
    expect(bytes.length).toBe(72);
    expect([...bytes]).toEqual(expected);
  });

  it('writes metadata first and tensors in name order, I32 little-endian', () => {
    // {"__metadata__":{"format":"pt"},"a":{"dtype":"I32","shape":[],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1,1],"data_offsets":[4,8]}}
    const header =
      '{"__metadata__":{"format":"pt"},"a":{"dtype":"I32","shape":[],"data_offsets":[0,4]},' + '"b":{"dtype":"F32","shape":[1,1],"data_offsets":[4,8]}}';
    expect(header.length).toBe(139); // → padded with 5 spaces to 144 = 0x90
    const bytes = encodeSafetensors(
      { b: { dtype: 'F32', shape: [1, 1], data: new Float32Array([0.5]) }, a: { dtype: 'I32', shape: [], data: new Int32Array([-2]) } },
      { format: 'pt' },
    );
    // -2 = 0xFFFFFFFE; 0.5f = 0x3F000000.
    expect([...bytes]).toEqual([0x90, 0, 0, 0, 0, 0, 0, 0, ...ascii(`${header}     `), 0xfe, 0xff, 0xff, 0xff, 0, 0, 0, 0x3f]);
  });

  it('decodes hand-built bytes', () => {
    const bytes = build('{"x":{"dtype":"I32","shape":[2,1],"data_offsets":[0,8]},"__metadata__":{"k":"v"}}', [7, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f]);
    const { tensors, metadata } = decodeSafetensors(bytes, 'm.safetensors');
    expect(metadata).toEqual({ k: 'v' });
    expect(tensors.x?.dtype).toBe('I32');
    expect(tensors.x?.shape).toEqual([2, 1]);
    expect([...(tensors.x?.data ?? [])]).toEqual([7, 2147483647]);
    expect(tensors.x?.data).toBeInstanceOf(Int32Array);
  });

  it('round-trips bit for bit: NaN payloads, −0, infinities, denormals, empty and scalar tensors', () => {
    const special = new Float32Array(new Uint32Array([0x7fc00001, 0xffc12345, 0x80000000, 0x00000001, 0x007fffff, 0x7f800000, 0xff800000, 0x3eaaaaab]).buffer);
    const tensors: Record<string, StTensor> = {
      special: { dtype: 'F32', shape: [2, 4], data: special },
      ints: { dtype: 'I32', shape: [3], data: new Int32Array([-2147483648, 0, 2147483647]) },
      empty: { dtype: 'F32', shape: [0, 5], data: new Float32Array(0) },
      scalar: { dtype: 'F32', shape: [], data: new Float32Array([Math.PI]) },
    };
    const decoded = decodeSafetensors(encodeSafetensors(tensors, { step: '3' }), 'rt.safetensors');
    expect(Object.keys(decoded.tensors).sort()).toEqual(['empty', 'ints', 'scalar', 'special']);
    expect(decoded.metadata).toEqual({ step: '3' });
    for (const [name, t] of Object.entries(tensors)) {
      const d = decoded.tensors[name] as StTensor;
      expect(d.dtype).toBe(t.dtype);
      expect(d.shape).toEqual(t.shape);
      expect(bitsOf(d.data)).toEqual(bitsOf(t.data));
    }
  });

  it('decodes a tensor at an unaligned position of a larger buffer', () => {
    const bytes = encodeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float32Array([1.5, -3]) } });
    const big = new Uint8Array(bytes.length + 3);
    big.set(bytes, 3);
    expect([...(decodeSafetensors(big.subarray(3), 'x').tensors.w?.data ?? [])]).toEqual([1.5, -3]);
  });

  it('rejects tensors that do not match their shape or dtype when encoding', () => {
    expect(() => encodeSafetensors({ w: { dtype: 'F32', shape: [3], data: new Float32Array(2) } })).toThrow(/needs 3 values, got 2/);
    expect(() => encodeSafetensors({ w: { dtype: 'I32', shape: [2], data: new Float32Array(2) } })).toThrow(/Int32Array/);
  });
});

describe('safetensors validation', () => {
  const good = encodeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } });
  const eight = [0, 0, 0, 0, 0, 0, 0, 0];
  const cases: [string, Uint8Array, RegExp][] = [
    ['a file shorter than 8 bytes', good.slice(0, 5), /truncated: 5 bytes/],
    ['a header length beyond the file', build('{}', [], 1000), /header length 1000 is beyond the file size \(10 bytes/],
    ['a file cut inside the data', good.slice(0, good.length - 4), /data_offsets \[0, 8\] are out of range \(the data section has 4 bytes/],
    ['malformed header JSON', build('{"w": {"dtype": ', eight), /malformed header JSON/],
    ['a header that is not an object', build('[1, 2]', []), /the header must be a JSON object/],
    ['an unknown dtype', build('{"w":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}', eight), /tensor 'w': unknown dtype "Q7"/],
    ['an unsupported dtype', build('{"w":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}', eight), /unsupported dtype "F16"/],
    ['a bad shape', build('{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', eight), /shape must be an array of non-negative integers/],
    ['bad offsets', build('{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', eight), /data_offsets must be \[begin, end\]/],
    ['offsets out of range', build('{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', eight), /out of range/],
    [
      'a size that does not match shape × dtype',
      build('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', eight),
      /shape \[3\] of F32 needs 12 bytes, but data_offsets \[0, 8\] hold 8/,
    ],
    [
      'overlapping tensors',
      build('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', [...eight, 0, 0, 0, 0]),
      /tensors 'a' \[0, 8\] and 'b' \[4, 12\] overlap/,
    ],
    ['a gap in the data', build('{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', eight), /bytes \[0, 4\) of the data section belong to no tensor/],
    ['trailing data', build('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', eight), /4 trailing bytes/],
    ['non-string metadata', build('{"__metadata__":{"n":1}}', []), /"__metadata__\.n" must be a string/],
  ];
  it.each(cases)('rejects %s with a CheckpointError naming the file', (_what, bytes, message) => {
    let error: unknown;
    try {
      decodeSafetensors(bytes, 'ckpt/model.safetensors');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as Error).message).toMatch(/^ckpt\/model\.safetensors: not a valid safetensors file: /);
    expect((error as Error).message).toMatch(message);
  });
});
