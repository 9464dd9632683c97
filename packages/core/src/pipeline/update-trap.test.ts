import { describe, expect, it } from 'vitest';
import { GrpoError } from '../errors.js';
import { recordedPass } from './update.js';

/** The JS runtime's WebAssembly API (core's compile settings do not declare it as a value). */
const wasm = (
  globalThis as unknown as {
    WebAssembly: { Module: new (b: Uint8Array) => object; Instance: new (m: object) => { exports: Record<string, unknown> }; RuntimeError: new () => Error };
  }
).WebAssembly;

/** A real WebAssembly module whose export `f` traps (`unreachable`), as a wasm kernel does when its heap has run out. */
function trappingFunction(): () => void {
  const bytes = Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00, // magic, version
    0x01,
    0x04,
    0x01,
    0x60,
    0x00,
    0x00, // type section: () -> ()
    0x03,
    0x02,
    0x01,
    0x00, // function section: one function of type 0
    0x07,
    0x05,
    0x01,
    0x01,
    0x66,
    0x00,
    0x00, // export "f" = function 0
    0x0a,
    0x05,
    0x01,
    0x03,
    0x00,
    0x00,
    0x0b, // code: no locals, unreachable, end
  ]);
  const instance = new wasm.Instance(new wasm.Module(bytes));
  return instance.exports.f as () => void;
}

describe('recordedPass', () => {
  it('turns a WebAssembly trap in a forward/backward pass into an error that names the micro-batch and what to lower', () => {
    const f = trappingFunction();
    let caught: unknown;
    try {
      recordedPass(() => f(), 4);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(GrpoError);
    expect((caught as Error).message).toMatch(/^the forward\/backward pass over a micro-batch of 4 sequences stopped in WebAssembly \(unreachable/);
    expect((caught as Error).message).toContain('Lower train.microBatchSize');
    expect((caught as Error).cause).toBeInstanceOf(wasm.RuntimeError);
  });

  it('passes other errors and results through', () => {
    const other = new RangeError('not wasm');
    expect(() =>
      recordedPass(() => {
        throw other;
      }, 4),
    ).toThrow(other);
    expect(recordedPass(() => 42, 1)).toBe(42);
  });
});
