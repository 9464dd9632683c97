/**
 * The bytes tensors take on the wasm heap while `f` runs, at their high-water mark: the backend's
 * `_malloc`/`_free` wrapped (every tensor buffer of `wasm` and `native` is allocated there). tfjs's
 * own `tf.memory().numBytes` and `tf.profile` count a tensor that shares another's data (a
 * reshape, a tensor saved for the backward pass) again, which a pass has many of.
 */
import * as tf from '@tensorflow/tfjs';

interface WasmAllocator {
  _malloc(bytes: number): number;
  _free(pointer: number): void;
}

export async function heapPeak(f: () => unknown): Promise<number> {
  const wasm = (tf.backend() as unknown as { wasm?: WasmAllocator }).wasm;
  if (!wasm) throw new Error('heapPeak: not a wasm-heap backend');
  // Emscripten binds its exports lazily: the first call of `_free` replaces the property with the
  // raw export, which would unhook the wrapper below. One call first binds both.
  wasm._free(wasm._malloc(8));
  const malloc = wasm._malloc;
  const free = wasm._free;
  const sizes = new Map<number, number>();
  let live = 0;
  let peak = 0;
  wasm._malloc = (bytes: number) => {
    const pointer = malloc(bytes);
    sizes.set(pointer >>> 0, bytes);
    live += bytes;
    peak = Math.max(peak, live);
    return pointer;
  };
  wasm._free = (pointer: number) => {
    live -= sizes.get(pointer >>> 0) ?? 0;
    sizes.delete(pointer >>> 0);
    free(pointer);
  };
  try {
    await f();
  } finally {
    wasm._malloc = malloc;
    wasm._free = free;
  }
  return peak;
}
