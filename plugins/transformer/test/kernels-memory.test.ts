/**
 * What a recorded (differentiated) pass holds on wasm: tfjs saves the inputs a gradient reads by
 * `engine.clone`, and wasm's own `Identity` copies. At SmolLM2-135M's shape a LoRA step's copies
 * went past wasm's 4 GB heap; kernels.ts makes the clone a new reference to the same data.
 * The tests record the sizes of the buffers the backend allocates (its `makeOutput`, which every
 * wasm kernel and the copying `Identity` call) while the pass runs.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { mm } from '../src/kernels.js';
import { resolveModelConfig } from '../src/config.js';
import { embed } from '../src/model.js';
import { useWasm, TINY } from './helpers.js';

beforeAll(async () => {
  await useWasm();
});

/** Runs `f` and returns the element counts of the buffers the wasm backend allocated meanwhile. */
function allocations<T>(f: () => T): { result: T; sizes: number[] } {
  const backend = tf.engine().backend as unknown as { makeOutput(shape: number[], ...rest: unknown[]): unknown };
  expect(tf.getBackend()).toBe('wasm');
  const original = backend.makeOutput;
  const sizes: number[] = [];
  backend.makeOutput = function (this: unknown, shape: number[], ...rest: unknown[]) {
    sizes.push(shape.reduce((a, b) => a * b, 1));
    return original.call(this, shape, ...rest);
  };
  try {
    return { result: f(), sizes };
  } finally {
    backend.makeOutput = original;
  }
}

describe('memory of a recorded pass on wasm', () => {
  it('saves a frozen weight for the backward pass without copying it, and the gradient is right', () => {
    const W = tf.variable(tf.randomNormal<tf.Rank.R2>([256, 512], 0, 1, 'float32', 1), false); // 512 KiB
    const x = tf.variable(tf.randomNormal<tf.Rank.R2>([2, 256], 0, 1, 'float32', 2), true);
    mm(x, W).dispose(); // the first product registers the kernels
    let sizes: number[] = [];
    const { value, grads } = tf.variableGrads(() => {
      const run = allocations(() => tf.sum(mm(x, W)) as tf.Scalar);
      sizes = run.sizes;
      return run.result;
    }, [x]);
    // The product [2, 512], its sum and copies of x at most; never a buffer of W's 131,072 elements.
    expect(sizes.length).toBeGreaterThan(0);
    expect(Math.max(...sizes)).toBeLessThan(W.size);
    // d/dx sum(x·W) = 1·Wᵀ: each row of the gradient holds W's row sums (float64 here).
    const w = W.arraySync();
    const g = grads[x.name]!.arraySync() as number[][];
    for (const row of g)
      row.forEach((v, j) =>
        expect(v).toBeCloseTo(
          w[j]!.reduce((a, b) => a + b, 0),
          3,
        ),
      );
    tf.dispose([value, ...Object.values(grads), W, x]);
  });

  it('embeds with a frozen table by gathering rows (no [tokens, vocab] one-hot), with the rows as values', () => {
    const cfg = resolveModelConfig({ ...TINY, dModel: 8, nHeads: 2 }, 4096);
    const table = tf.variable(tf.randomNormal<tf.Rank.R2>([4096, 8], 0, 1, 'float32', 3), false);
    const ids = Int32Array.from([5, 4095, 0, 17, 17, 1024]);
    const a = tf.variable(tf.ones([8, 8]) as tf.Tensor2D, true);
    let sizes: number[] = [];
    let rows: number[][] = [];
    const { value, grads } = tf.variableGrads(() => {
      const run = allocations(() => embed(cfg, new Map([['embed.weight', table]]), ids));
      sizes = run.sizes;
      rows = run.result.arraySync();
      return tf.sum(mm(run.result, a)) as tf.Scalar;
    }, [a]);
    const t = table.arraySync();
    expect(rows).toEqual([...ids].map((i) => t[i]));
    // The gathered rows (6 × 8) only; a one-hot would be 6 × 4096.
    expect(sizes).toEqual([6 * 8]);
    tf.dispose([value, ...Object.values(grads), table, a]);
  });
});
