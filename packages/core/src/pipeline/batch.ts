import * as tf from '@tensorflow/tfjs';

/** Rows padded with `fill` to the longest row (or `width`), as a `[B, L]` tensor. */
export function padded(rows: readonly (readonly number[])[], width?: number, fill = 0): tf.Tensor2D {
  const L = width ?? Math.max(1, ...rows.map((r) => r.length));
  const data = new Float32Array(rows.length * L).fill(fill);
  rows.forEach((r, i) => data.set(r.slice(0, L), i * L));
  return tf.tensor2d(data, [rows.length, L]);
}

/** Splits `items` into consecutive chunks of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The first `lengths[i]` values of each row of a `[B, L]` tensor, as arrays. */
export function unpadded(tensor: tf.Tensor2D, lengths: readonly number[]): number[][] {
  const rows = tensor.arraySync();
  return lengths.map((n, i) => rows[i]!.slice(0, n));
}
