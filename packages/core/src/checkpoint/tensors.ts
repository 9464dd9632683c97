import * as tf from '@tensorflow/tfjs';
import type { StTensor } from './safetensors.js';

/** A copy of a tensor's values as a safetensors entry (`float32` → F32, `int32`/`bool` → I32). */
export function toStTensor(t: tf.Tensor): StTensor {
  const shape = [...t.shape];
  switch (t.dtype) {
    case 'float32':
      return { dtype: 'F32', shape, data: Float32Array.from(t.dataSync() as Float32Array) };
    case 'int32':
    case 'bool':
      return { dtype: 'I32', shape, data: Int32Array.from(t.dataSync() as Int32Array | Uint8Array) };
    default:
      throw new TypeError(`Cannot store a ${t.dtype} tensor in safetensors (float32, int32 or bool only).`);
  }
}

/** A new tensor holding a safetensors entry's values; the caller owns (and disposes) it. */
export function fromStTensor(st: StTensor): tf.Tensor {
  return tf.tensor(st.data, st.shape, st.dtype === 'F32' ? 'float32' : 'int32');
}

/** Safetensors entries of named tensors (e.g. a model's variables by name). */
export function toStTensors(tensors: Record<string, tf.Tensor>): Record<string, StTensor> {
  return Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, toStTensor(t)]));
}
