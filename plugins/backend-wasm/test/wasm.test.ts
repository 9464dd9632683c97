import { BackendUnavailableError, TensorBackend, assembleContainer, resolveConfig, selectNamed } from '@grpo/core';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import backendWasm, { WasmBackend, setupBackend, wasmThreads } from '../src/index.js';

describe('@grpo/plugin-backend-wasm', () => {
  it('sets up the wasm backend and computes a matmul', async () => {
    await setupBackend();
    expect(tf.getBackend()).toBe('wasm');
    expect(wasmThreads()).toBeGreaterThanOrEqual(1);
    const before = tf.memory().numTensors;
    // [[1,2],[3,4]] · [[5,6],[7,8]] = [[1·5+2·7, 1·6+2·8], [3·5+4·7, 3·6+4·8]]
    const product = tf.tidy(() =>
      tf
        .matMul(
          tf.tensor2d([
            [1, 2],
            [3, 4],
          ]),
          tf.tensor2d([
            [5, 6],
            [7, 8],
          ]),
        )
        .arraySync(),
    );
    expect(product).toEqual([
      [19, 22],
      [43, 50],
    ]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses to set up another backend by name', async () => {
    await expect(setupBackend('cpu')).rejects.toThrow(BackendUnavailableError);
    await expect(setupBackend('wasm', { threads: 0 })).rejects.toThrow(/threads must be an integer ≥ 1/);
  });

  it('binds a TensorBackend named wasm that the trainer can select', async () => {
    const plugin = backendWasm({ threads: 2 });
    const config = await resolveConfig({ backend: 'wasm', plugins: [plugin] }, { source: 'test' });
    expect(plugin.meta).toEqual({ name: '@grpo/plugin-backend-wasm', version: '0.1.0', core: '^0.1.0' });
    const container = await assembleContainer(config);
    const backend = selectNamed<TensorBackend>(container, TensorBackend, config.backend, 'backend');
    expect(config.backend).toBe('wasm');
    expect(backend).toBeInstanceOf(WasmBackend);
    await tf.setBackend('cpu');
    await backend.setup();
    expect(tf.getBackend()).toBe('wasm');
  });
});
